"""A unified diff laid out side by side: rows of (left line, right line, kind) for the diff page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One row of the side-by-side view; a side is None where that version has no line."""

    left: str | None
    right: str | None
    kind: str  # same | changed | removed | added | hunk


def side_by_side(unified: str) -> list[Row]:
    """Pair each run of removed lines with the run of added lines that follows it.

    >>> [(r.left, r.right, r.kind) for r in side_by_side("@@ -1 +1 @@\\n-a\\n+b\\n c")]
    [('@@ -1 +1 @@', '@@ -1 +1 @@', 'hunk'), ('a', 'b', 'changed'), ('c', 'c', 'same')]
    """
    rows: list[Row] = []
    removed: list[str] = []
    added: list[str] = []
    for line in unified.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
        else:
            rows += _pair(removed, added)
            removed, added = [], []
            if line.startswith("@@"):
                rows.append(Row(line, line, "hunk"))
            elif not line.startswith("\\"):
                rows.append(Row(line[1:], line[1:], "same"))
    return rows + _pair(removed, added)


def _pair(removed: list[str], added: list[str]) -> list[Row]:
    rows = []
    for i in range(max(len(removed), len(added))):
        left = removed[i] if i < len(removed) else None
        right = added[i] if i < len(added) else None
        kind = (
            "changed" if left is not None and right is not None else ("removed" if right is None else "added")
        )
        rows.append(Row(left, right, kind))
    return rows
