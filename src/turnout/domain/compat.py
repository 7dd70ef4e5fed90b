"""Shared resources and the compatibility guards: pure rules, no I/O, no clock.

A *resource* is a named, versioned thing several functions share (a database schema, a message format,
another API). Its version is a PEP 440 version (``7``, ``1.2``, ``2026.1``). A function version declares
the range it works with in its ``[requires]`` table (``orders-db = ">=6,<8"``, PEP 440 specifiers).

Two guards use these rules:

* moving traffic: a change that makes a version *gain* traffic (a new target, or a bigger weight) is
  refused when that version's range excludes the current version of a resource it requires;
* moving a resource: refused when a version that carries traffic now would be outside its range.

A resource that does not exist (yet) is *unknown*: a guard never refuses because of it (a version may be
published before the resource is first recorded).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from turnout.domain.names import LATEST
from turnout.domain.routing import Routing
from turnout.errors import InvalidInput, InvalidName

_RESOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
VERSION_MAX = 64
SPECIFIER_MAX = 256
REQUIRES_MAX = 32


def check_resource_name(name: object) -> str:
    """A resource name: 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit."""
    if not isinstance(name, str) or not _RESOURCE.fullmatch(name):
        raise InvalidName(
            f"invalid resource name {name!r}: use 1-64 letters, digits, '-', '_' or '.' "
            "(starting with a letter or digit)",
            name=str(name),
        )
    return name


def parse_resource_version(text: object, resource: str = "") -> str:
    """A PEP 440 version, normalized (``"07"`` -> ``"7"``); refuses anything else."""
    what = f"version of resource {resource!r}" if resource else "resource version"
    if not isinstance(text, str | int) or isinstance(text, bool) or len(str(text)) > VERSION_MAX:
        raise InvalidInput(f"{what} must be a PEP 440 version such as 7 or 1.2, got {text!r}")
    try:
        return str(Version(str(text).strip()))
    except InvalidVersion as exc:
        raise InvalidInput(
            f"{what} {str(text)!r} is not a PEP 440 version (such as 7, 1.2 or 2026.1)", version=str(text)
        ) from exc


def parse_specifier(text: object, resource: str) -> str:
    """A PEP 440 specifier set (``>=6,<8``), normalized; refuses an invalid or empty one, naming it."""
    if not isinstance(text, str) or len(text) > SPECIFIER_MAX:
        raise InvalidInput(
            f'requires {resource!r}: the range must be a PEP 440 specifier such as ">=6,<8", got {text!r}',
            resource=resource,
        )
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier as exc:
        raise InvalidInput(
            f'requires {resource!r}: {text!r} is not a PEP 440 specifier (write e.g. ">=6,<8" or "==7.*")',
            resource=resource,
            specifier=text,
        ) from exc
    if not str(spec):
        raise InvalidInput(f'requires {resource!r}: the range is empty; write e.g. ">=6"', resource=resource)
    return ",".join(sorted(str(s) for s in spec))


def check_requires(requires: object) -> dict[str, str]:
    """A ``[requires]`` table, validated and normalized: resource name -> specifier, sorted by name."""
    if not isinstance(requires, Mapping):
        raise InvalidInput('requires is a table of resource = "specifier", e.g. {"orders-db": ">=6,<8"}')
    if len(requires) > REQUIRES_MAX:
        raise InvalidInput(f"a version requires at most {REQUIRES_MAX} resources")
    return {check_resource_name(k): parse_specifier(v, str(k)) for k, v in sorted(requires.items())}


def allows(specifier: str, version: str) -> bool:
    """Whether ``version`` is in the range (pre-releases count like any version).

    >>> allows(">=6,<8", "7"), allows("<7", "7"), allows(">=1.2", "1.10")
    (True, False, True)
    """
    return SpecifierSet(specifier).contains(Version(version), prereleases=True)


@dataclass(frozen=True)
class Resource:
    """A shared resource's current version, and who set it when."""

    name: str
    version: str
    updated_by: str
    updated_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class ResourceChange:
    """One line of a resource's history (like an alias's): ``before`` is ``None`` when it was created.
    ``forced`` lines went past the guard; ``details`` then lists what the guard would have refused."""

    resource: str
    before: str | None
    after: str
    actor: str
    reason: str
    at: datetime
    forced: bool = False
    id: int = 0
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Clash:
    """A version of a function that requires ``resource`` in ``specifier`` while it is at ``current``."""

    function: str
    version: int | None  # None: $LATEST (the draft)
    resource: str
    current: str
    specifier: str
    via: tuple[str, ...] = ()  # what sends traffic to it: "alias prod", "route GET /x", ...

    @property
    def label(self) -> str:
        return LATEST if self.version is None else f"v{self.version}"

    def describe(self) -> str:
        via = f" (traffic from {', '.join(self.via)})" if self.via else ""
        return (
            f"{self.function} {self.label} requires {self.resource} {self.specifier}, "
            f"but {self.resource} is {self.current}{via}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "function": self.function,
            "version": LATEST if self.version is None else self.version,
            "resource": self.resource,
            "current": self.current,
            "requires": self.specifier,
            "via": list(self.via),
        }


def clashes(
    function: str,
    version: int | None,
    requires: Mapping[str, str],
    resources: Mapping[str, str],
    via: Iterable[str] = (),
) -> list[Clash]:
    """The resources whose current version (``resources``: name -> version) the version's ``requires``
    excludes. A required resource missing from ``resources`` is unknown, never a clash."""
    return [
        Clash(function, version, name, resources[name], spec, tuple(via))
        for name, spec in sorted(requires.items())
        if name in resources and not allows(spec, resources[name])
    ]


def gaining(before: Routing | None, after: Routing) -> list[int | None]:
    """The versions ``after`` gives more traffic than ``before`` does (new targets, bigger weights): only
    they are checked when an alias moves. A version keeping or losing its share is not.

    >>> gaining(Routing.single(3), Routing.from_percentages({3: 90, 4: 10}))
    [4]
    >>> gaining(Routing.from_percentages({3: 90, 4: 10}), Routing.single(3))
    [3]
    """
    old = {} if before is None else {r.version: r.weight_bp for r in before.routes}
    return [r.version for r in after.routes if r.weight_bp > old.get(r.version, 0)]


def refusal(clashes_found: Iterable[Clash], doing: str) -> str:
    """The message of an ``Incompatible`` refusal: what was refused, every clash, and the ways out."""
    lines = "; ".join(c.describe() for c in clashes_found)
    return f"{doing} refused: {lines}. Move the resource into range, pick a compatible version, or force it"


def with_resource(resources: Mapping[str, str], name: str, version: str) -> dict[str, str]:
    """``resources`` with ``name`` at ``version`` (what a resource move would make current)."""
    return {**resources, name: version}
