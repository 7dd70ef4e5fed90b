"""What changed between two snapshots: code, configuration, environment and dependencies."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from turnout.domain.config import FunctionConfig
from turnout.domain.secrets import MASK, comparable, is_sealed, is_secret

TEXT_DIFF_MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | removed | modified
    diff: str  # unified diff; empty for binary or oversized files
    binary: bool = False


@dataclass(frozen=True)
class ValueChange:
    key: str
    before: Any
    after: Any


@dataclass(frozen=True)
class SnapshotDiff:
    code: tuple[FileChange, ...] = ()
    config: tuple[ValueChange, ...] = ()
    environment: tuple[ValueChange, ...] = ()
    dependencies: tuple[ValueChange, ...] = ()
    labels: tuple[str, str] = ("a", "b")
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.code or self.config or self.environment or self.dependencies)


def diff_files(
    before: Mapping[str, str],
    after: Mapping[str, str],
    read_before: Callable[[str], bytes],
    read_after: Callable[[str], bytes],
    labels: tuple[str, str],
) -> tuple[FileChange, ...]:
    """Compare two file manifests (path -> sha256); read contents only of files that differ.

    ``read_before(path)``/``read_after(path)`` return the file's bytes.
    """
    changes: list[FileChange] = []
    for path in sorted(set(before) | set(after)):
        old_hash, new_hash = before.get(path), after.get(path)
        if old_hash == new_hash:
            continue
        old = read_before(path) if old_hash is not None else b""
        new = read_after(path) if new_hash is not None else b""
        status = "added" if old_hash is None else "removed" if new_hash is None else "modified"
        changes.append(_file_change(path, status, old, new, labels))
    return tuple(changes)


def _file_change(path: str, status: str, old: bytes, new: bytes, labels: tuple[str, str]) -> FileChange:
    old_text, new_text = _text(old), _text(new)
    if old_text is None or new_text is None:
        return FileChange(path, status, "", binary=True)
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile=f"{labels[0]}/{path}" if status != "added" else "/dev/null",
        tofile=f"{labels[1]}/{path}" if status != "removed" else "/dev/null",
    )
    return FileChange(path, status, "".join(_ensure_newline(line) for line in lines))


def _text(data: bytes) -> str | None:
    if len(data) > TEXT_DIFF_MAX_BYTES or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _ensure_newline(line: str) -> str:
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def diff_config(before: FunctionConfig, after: FunctionConfig) -> tuple[ValueChange, ...]:
    """Changed configuration fields other than the environment."""
    old, new = before.to_json(), after.to_json()
    fields = tuple(
        ValueChange(key, old[key], new[key])
        for key in ("handler", "description", "timeout", "memory")
        if old[key] != new[key]
    )
    requires = tuple(
        ValueChange(f"requires {name}", before.requires.get(name), after.requires.get(name))
        for name in sorted(set(before.requires) | set(after.requires))
        if before.requires.get(name) != after.requires.get(name)
    )
    return fields + requires


def diff_environment(
    before: Mapping[str, str], after: Mapping[str, str], secret_keys: Iterable[str] = ()
) -> tuple[ValueChange, ...]:
    """Added, removed and changed variables; secret values are masked (a change still shows)."""
    declared = frozenset(secret_keys)
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if (None if old is None else comparable(old)) == (None if new is None else comparable(new)):
            continue
        if is_secret(key, declared) or any(v is not None and is_sealed(v) for v in (old, new)):
            old = None if old is None else MASK
            new = None if new is None else MASK + " (changed)" if old is not None else MASK
        changes.append(ValueChange(key, old, new))
    return tuple(changes)


def diff_dependencies(before: Iterable[str], after: Iterable[str]) -> tuple[ValueChange, ...]:
    """Compare requirement lists by project name.

    >>> [c.key for c in diff_dependencies(["requests==2.31"], ["requests==2.32", "attrs"])]
    ['attrs', 'requests']
    """
    old, new = _by_name(before), _by_name(after)
    return tuple(
        ValueChange(name, old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    )


def _by_name(lines: Iterable[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in lines:
        try:
            name: str = canonicalize_name(Requirement(line).name)
        except InvalidRequirement:
            name = line
        result[name] = line
    return result
