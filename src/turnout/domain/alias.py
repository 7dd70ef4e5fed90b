"""Aliases, their change history, and the rules for rollback and swap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from turnout.domain.routing import Routing
from turnout.errors import NothingToRollBack


@dataclass(frozen=True)
class Alias:
    """A movable pointer to versions. ``settings`` are environment overrides that stay with the alias."""

    function_id: int
    name: str
    routing: Routing
    description: str
    settings: Mapping[str, str]
    secret_keys: frozenset[str]
    revision_id: str
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:
        return f"Alias({self.name!r} -> {self.routing.describe()})"


class AliasAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SETTINGS = "settings"
    SWAP = "swap"
    ROLLBACK = "rollback"
    DELETE = "delete"
    ROLLOUT = "rollout"  # a rollout step (its automatic rollback is recorded as ``rollback``)


@dataclass(frozen=True)
class AliasChange:
    """One line of an alias's history: who moved it, when, from where to where, and why."""

    alias: str
    action: AliasAction
    before: Routing | None
    after: Routing | None
    actor: str
    reason: str
    at: datetime
    id: int = 0
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def moved(self) -> bool:
        return self.before is not None and self.after is not None and self.before != self.after


def rollback_target(current: Routing, history: Sequence[AliasChange]) -> Routing:
    """Where ``rollback`` sends an alias: the target it had before its most recent move.

    ``history`` is newest first. Rolling back twice returns to where it started (like ``cd -``),
    because the rollback itself is the most recent move.
    """
    for change in history:
        if change.moved and change.before is not None and change.before != current:
            return change.before
    raise NothingToRollBack("the alias has no earlier target in its history to return to")
