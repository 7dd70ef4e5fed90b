"""Rows of rollouts: the running one per alias (at most one, by constraint) and the finished ones."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from turnout.domain.plan import Plan
from turnout.domain.rollout import TERMINAL, Rollout
from turnout.store.rows import utc
from turnout.store.schema import functions, rollouts


@dataclass(frozen=True)
class RolloutRecord:
    """A stored rollout: its state machine's state and its plan, with who started it and when."""

    id: int
    function: str
    function_id: int
    rollout: Rollout
    plan: Plan
    actor: str
    created_at: datetime
    updated_at: datetime
    release_id: int | None = None  # a member of this release rollout: decided with the other members

    @property
    def active(self) -> bool:
        return self.rollout.state not in TERMINAL


class RolloutRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(
        self,
        function_id: int,
        rollout: Rollout,
        plan: Plan,
        actor: str,
        now: datetime,
        release_id: int | None = None,
    ) -> int:
        values = _values(rollout) | {"plan": plan.to_json(), "actor": actor, "created_at": now}
        values["release_id"] = release_id
        result = self.conn.execute(
            rollouts.insert().values(function_id=function_id, **values, updated_at=now)
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def save(self, rollout_id: int, rollout: Rollout, now: datetime) -> None:
        """Store the rollout's new state; a finished rollout frees its alias for the next one."""
        query = update(rollouts).where(rollouts.c.id == rollout_id)
        self.conn.execute(query.values(**_values(rollout), updated_at=now))

    def active(self, function_id: int, alias: str, lock: bool = False) -> RolloutRecord | None:
        query = _select().where(rollouts.c.function_id == function_id, rollouts.c.active_alias == alias)
        if lock:
            query = query.with_for_update(of=rollouts)
        return _first(self.conn, query)

    def get(self, rollout_id: int, lock: bool = False) -> RolloutRecord | None:
        query = _select().where(rollouts.c.id == rollout_id)
        if lock:
            query = query.with_for_update(of=rollouts)
        return _first(self.conn, query)

    def of_release(self, release_id: int, lock: bool = False) -> builtins.list[RolloutRecord]:
        """The member rollouts of a release rollout, in the order they were created."""
        query = _select().where(rollouts.c.release_id == release_id).order_by(rollouts.c.id)
        if lock:
            query = query.with_for_update(of=rollouts)
        return [_record(r) for r in self.conn.execute(query)]

    def latest(self, function_id: int, alias: str) -> RolloutRecord | None:
        query = _select().where(rollouts.c.function_id == function_id, rollouts.c.alias_name == alias)
        return _first(self.conn, query.order_by(rollouts.c.id.desc()).limit(1))

    def history(self, function_id: int, alias: str, limit: int) -> builtins.list[RolloutRecord]:
        query = _select().where(rollouts.c.function_id == function_id, rollouts.c.alias_name == alias)
        return [_record(r) for r in self.conn.execute(query.order_by(rollouts.c.id.desc()).limit(limit))]

    def running(self) -> builtins.list[RolloutRecord]:
        """Every rollout that is not over, oldest first (the controller's work list)."""
        query = _select().where(rollouts.c.active_alias.is_not(None)).order_by(rollouts.c.id)
        return [_record(r) for r in self.conn.execute(query)]

    def claim(self, rollout_id: int, owner: str, until: datetime, now: datetime) -> bool:
        """Take (or keep) the lease of a running rollout: free, run out, or already ``owner``'s."""
        free = or_(
            rollouts.c.lease_owner.is_(None),
            rollouts.c.lease_owner == owner,
            rollouts.c.lease_until.is_(None),
            rollouts.c.lease_until < now,
        )
        query = (
            update(rollouts)
            .where(and_(rollouts.c.id == rollout_id, rollouts.c.active_alias.is_not(None), free))
            .values(lease_owner=owner, lease_until=until)
        )
        return self.conn.execute(query).rowcount == 1

    def references(self, function_id: int) -> dict[int, builtins.list[str]]:
        return rollout_references(self.conn, function_id)

    def release(self, owner: str) -> None:
        """Give up every lease ``owner`` holds (a node shutting down); its name stays as the last holder."""
        query = update(rollouts).where(rollouts.c.lease_owner == owner)
        self.conn.execute(query.values(lease_until=None))

    def holder(self, rollout_id: int) -> str | None:
        """Who holds (or last held) the rollout's lease; locks the row until the transaction ends."""
        query = select(rollouts.c.lease_owner).where(rollouts.c.id == rollout_id).with_for_update()
        found: str | None = self.conn.execute(query).scalar()
        return found


def _values(rollout: Rollout) -> dict[str, Any]:
    active = rollout.state not in TERMINAL
    return {
        "alias_name": rollout.alias,
        "active_alias": rollout.alias if active else None,
        "state": rollout.state.value,
        "data": rollout.to_json(),
    }


def _select() -> Any:
    return select(rollouts, functions.c.name.label("function_name")).join(
        functions, functions.c.id == rollouts.c.function_id
    )


def _first(conn: Connection, query: Any) -> RolloutRecord | None:
    row = conn.execute(query).first()
    return None if row is None else _record(row)


def _record(row: Any) -> RolloutRecord:
    r = row._mapping
    return RolloutRecord(
        id=int(r["id"]),
        function=r["function_name"],
        function_id=int(r["function_id"]),
        rollout=Rollout.from_json(r["data"]),
        plan=Plan.from_json(r["plan"]),
        actor=r["actor"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
        release_id=None if r["release_id"] is None else int(r["release_id"]),
    )


def rollout_references(conn: Connection, function_id: int) -> dict[int, list[str]]:
    """Versions that running rollouts of the function move between -> "rollout of <alias>" labels."""
    query = select(rollouts.c.data).where(
        rollouts.c.function_id == function_id, rollouts.c.active_alias.is_not(None)
    )
    found: dict[int, list[str]] = {}
    data: dict[str, Any]
    for data in conn.execute(query).scalars():
        for number in (int(data["baseline"]), int(data["candidate"])):
            found.setdefault(number, []).append(f"rollout of {data['alias']}")
    return found
