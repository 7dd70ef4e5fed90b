"""The imports between Turnout's packages point down, and no two modules import each other.

Read from the source (every ``import``, including those under ``TYPE_CHECKING`` and inside functions),
so a wrong-way import fails here before it tangles anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# package -> the packages it must never import (the layers above it)
FORBIDDEN = {
    "domain": {
        "store",
        "runtime",
        "services",
        "gateway",
        "api",
        "lambda_api",
        "cluster",
        "app",
        "server",
        "cli",
        "build",
        "blobs",
        "keyring",
        "settings",
        "clock",
    },
    "store": {"runtime", "services", "gateway", "api", "lambda_api", "cluster", "app", "server", "cli"},
    "runtime": {"store", "services", "gateway", "api", "lambda_api", "cluster", "app", "server", "cli"},
    "services": {"gateway", "api", "lambda_api", "cluster", "app", "server", "cli"},
    "gateway": {"api", "lambda_api", "app", "server", "cli"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _named(name: str, path: Path) -> Iterator[str]:
    """Every dotted name an import statement of the module names (``from a import b`` gives a and a.b)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imports_of(name: str) -> set[str]:
    """The Turnout modules that ``name`` imports.

    >>> "turnout.errors" in imports_of("turnout.domain.names")
    True
    """
    found = set()
    for dotted in _named(name, MODULES[name]):
        while dotted and dotted not in MODULES:
            dotted = dotted.rpartition(".")[0]
        if dotted and dotted != name:
            found.add(dotted)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


GRAPH = {name: imports_of(name) for name in MODULES}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _layer(module) == layer
        for target in targets
        if _layer(target) in FORBIDDEN[layer]
    )
    assert wrong == []


def test_no_two_modules_import_each_other_even_indirectly() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found
