"""Rows of releases: the release (name, state, plan, history) and its members (before -> after)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from turnout.domain.release import ReleaseState
from turnout.domain.routing import Routing
from turnout.store.rows import utc
from turnout.store.schema import functions, release_members, releases


@dataclass(frozen=True)
class MemberRecord:
    function: str
    function_id: int
    alias: str
    version: int
    before: Routing
    after: Routing
    rollout_id: int | None = None


@dataclass(frozen=True)
class ReleaseRecord:
    id: int
    name: str
    state: ReleaseState
    reason: str
    actor: str
    plan: dict[str, Any] | None
    history: tuple[dict[str, Any], ...]
    members: tuple[MemberRecord, ...]
    created_at: datetime
    updated_at: datetime


class ReleaseRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(
        self,
        name: str,
        state: ReleaseState,
        reason: str,
        actor: str,
        plan: dict[str, Any] | None,
        history: builtins.list[dict[str, Any]],
        now: datetime,
    ) -> int:
        values = {"name": name, "state": state.value, "reason": reason, "actor": actor, "plan": plan}
        result = self.conn.execute(
            releases.insert().values(**values, history=history, created_at=now, updated_at=now)
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def add_member(self, release_id: int, position: int, member: MemberRecord) -> None:
        self.conn.execute(
            release_members.insert().values(
                release_id=release_id,
                position=position,
                function_id=member.function_id,
                alias_name=member.alias,
                version=member.version,
                before=member.before.to_json(),
                after=member.after.to_json(),
                rollout_id=member.rollout_id,
            )
        )

    def exists(self, name: str) -> bool:
        return self.conn.execute(select(releases.c.id).where(releases.c.name == name)).first() is not None

    def get(self, name: str, lock: bool = False) -> ReleaseRecord | None:
        return self._one(releases.c.name == name, lock)

    def by_id(self, release_id: int, lock: bool = False) -> ReleaseRecord | None:
        return self._one(releases.c.id == release_id, lock)

    def list(self, limit: int) -> builtins.list[ReleaseRecord]:
        query = select(releases).order_by(releases.c.id.desc()).limit(limit)
        rows = builtins.list(self.conn.execute(query).mappings())
        members = self._members([int(r["id"]) for r in rows])
        return [_release(r, members.get(int(r["id"]), ())) for r in rows]

    def save(
        self, release_id: int, state: ReleaseState, history: builtins.list[dict[str, Any]], now: datetime
    ) -> None:
        query = update(releases).where(releases.c.id == release_id)
        self.conn.execute(query.values(state=state.value, history=history, updated_at=now))

    def _one(self, where: Any, lock: bool) -> ReleaseRecord | None:
        query = select(releases).where(where)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None:
            return None
        return _release(row, self._members([int(row["id"])]).get(int(row["id"]), ()))

    def _members(self, ids: builtins.list[int]) -> dict[int, tuple[MemberRecord, ...]]:
        if not ids:
            return {}
        query = (
            select(release_members, functions.c.name.label("function_name"))
            .join(functions, functions.c.id == release_members.c.function_id)
            .where(release_members.c.release_id.in_(ids))
            .order_by(release_members.c.release_id, release_members.c.position)
        )
        found: dict[int, builtins.list[MemberRecord]] = {}
        for r in self.conn.execute(query).mappings():
            found.setdefault(int(r["release_id"]), []).append(
                MemberRecord(
                    function=r["function_name"],
                    function_id=int(r["function_id"]),
                    alias=r["alias_name"],
                    version=int(r["version"]),
                    before=Routing.from_json(r["before"]),
                    after=Routing.from_json(r["after"]),
                    rollout_id=None if r["rollout_id"] is None else int(r["rollout_id"]),
                )
            )
        return {k: tuple(v) for k, v in found.items()}


def _release(r: Any, members: tuple[MemberRecord, ...]) -> ReleaseRecord:
    return ReleaseRecord(
        id=int(r["id"]),
        name=r["name"],
        state=ReleaseState(r["state"]),
        reason=r["reason"],
        actor=r["actor"],
        plan=r["plan"],
        history=tuple(r["history"] or ()),
        members=members,
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
    )
