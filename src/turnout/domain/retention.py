"""Which versions garbage collection may remove."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RetentionPlan:
    delete: tuple[int, ...]
    keep: tuple[int, ...]
    pinned: Mapping[int, tuple[str, ...]]


def plan_retention(
    versions: Iterable[int], keep: int, references: Mapping[int, Iterable[str]]
) -> RetentionPlan:
    """Keep the ``keep`` newest versions and every referenced one; delete the rest.

    >>> plan_retention([1, 2, 3, 4, 5], keep=2, references={1: ["prod"]}).delete
    (2, 3)
    """
    if keep < 0:
        raise ValueError("keep must be at least 0")
    ordered = sorted(versions, reverse=True)
    newest = set(ordered[:keep])
    pinned = {v: tuple(sorted(refs)) for v, refs in references.items() if refs}
    delete = tuple(sorted(v for v in ordered if v not in newest and v not in pinned))
    kept = tuple(sorted(v for v in ordered if v not in delete))
    return RetentionPlan(delete=delete, keep=kept, pinned={v: pinned[v] for v in kept if v in pinned})
