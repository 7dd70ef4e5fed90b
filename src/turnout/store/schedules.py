"""Rows of schedules: one per name, claimed tick by tick with a compare-and-set on ``next_fire_at``."""

from __future__ import annotations

import builtins
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from turnout.domain.version_number import is_version_text
from turnout.store.rows import utc
from turnout.store.schema import functions, schedules


@dataclass(frozen=True)
class ScheduleRecord:
    """A stored schedule, with its function's name."""

    name: str
    function: str
    function_id: int
    qualifier: str
    expression: str
    timezone: str
    input: str | None  # JSON text of the fixed input; None: the scheduled event
    enabled: bool
    missed: str
    anchor: datetime
    next_fire_at: datetime | None
    last_fired_at: datetime | None
    last_result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    queued: bool = False  # ticks go on the async queue, in the claim's transaction


class ScheduleRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(
        self,
        name: str,
        function_id: int,
        qualifier: str,
        expression: str,
        timezone: str,
        input: str | None,
        enabled: bool,
        missed: str,
        anchor: datetime,
        next_fire_at: datetime | None,
        now: datetime,
        queued: bool = False,
    ) -> None:
        self.conn.execute(
            schedules.insert().values(
                name=name,
                function_id=function_id,
                qualifier=qualifier,
                expression=expression,
                timezone=timezone,
                input=input,
                enabled=1 if enabled else 0,
                missed=missed,
                queued=1 if queued else 0,
                anchor=anchor,
                next_fire_at=next_fire_at,
                created_at=now,
                updated_at=now,
            )
        )

    def get(self, name: str) -> ScheduleRecord | None:
        row = self.conn.execute(_select().where(schedules.c.name == name)).mappings().first()
        return None if row is None else _record(row)

    def list(
        self, function_id: int | None = None, after: str | None = None, limit: int | None = None
    ) -> builtins.list[ScheduleRecord]:
        """Schedules ordered by name (of one function, if given), those after ``after``."""
        query = _select()
        if function_id is not None:
            query = query.where(schedules.c.function_id == function_id)
        if after is not None:
            query = query.where(schedules.c.name > after)
        query = query.order_by(schedules.c.name)
        if limit is not None:
            query = query.limit(limit)
        return [_record(r) for r in self.conn.execute(query).mappings()]

    def due(self, now: datetime, limit: int = 100) -> builtins.list[ScheduleRecord]:
        """Enabled schedules whose next tick is at or before ``now``, soonest first."""
        query = (
            _select()
            .where(schedules.c.enabled == 1, schedules.c.next_fire_at <= now)
            .order_by(schedules.c.next_fire_at)
            .limit(limit)
        )
        return [_record(r) for r in self.conn.execute(query).mappings()]

    def soonest(self) -> datetime | None:
        """The earliest next tick of any enabled schedule."""
        query = select(schedules.c.next_fire_at).where(
            schedules.c.enabled == 1, schedules.c.next_fire_at.is_not(None)
        )
        value = self.conn.execute(query.order_by(schedules.c.next_fire_at).limit(1)).scalar()
        return None if value is None else utc(value)

    def claim(
        self, name: str, expected: datetime, following: datetime | None, fired_at: datetime | None
    ) -> bool:
        """Move the schedule's next tick from ``expected`` to ``following``; False if another claimer
        moved it first (or it was changed or disabled meanwhile). The caller fires only on True.
        ``fired_at``: set as the last firing (None: the claim fires nothing, e.g. skipped ticks)."""
        query = update(schedules).where(
            schedules.c.name == name, schedules.c.next_fire_at == expected, schedules.c.enabled == 1
        )
        values: dict[str, Any] = {"next_fire_at": following}
        if fired_at is not None:
            values["last_fired_at"] = fired_at
        result = self.conn.execute(query.values(**values))
        return result.rowcount == 1

    def record_result(self, name: str, result: dict[str, Any]) -> None:
        self.conn.execute(update(schedules).where(schedules.c.name == name).values(last_result=result))

    def set_enabled(self, name: str, enabled: bool, next_fire_at: datetime | None, now: datetime) -> bool:
        query = update(schedules).where(schedules.c.name == name)
        values = {"enabled": 1 if enabled else 0, "next_fire_at": next_fire_at, "updated_at": now}
        return self.conn.execute(query.values(**values)).rowcount == 1

    def delete(self, name: str) -> bool:
        return self.conn.execute(delete(schedules).where(schedules.c.name == name)).rowcount == 1

    def references(self, function_id: int) -> dict[int, builtins.list[str]]:
        """version -> ``["schedule NAME", …]`` for the schedules pinned to that version."""
        query = select(schedules.c.qualifier, schedules.c.name).where(schedules.c.function_id == function_id)
        found: dict[int, builtins.list[str]] = defaultdict(list)
        for row in self.conn.execute(query).mappings():
            qualifier = str(row["qualifier"])
            if is_version_text(qualifier):
                found[int(qualifier)].append(f"schedule {row['name']}")
        return {v: sorted(names) for v, names in found.items()}

    def alias_references(self, function_id: int) -> dict[str, builtins.list[str]]:
        """alias -> ``["schedule NAME", …]`` for the schedules that follow that alias."""
        query = select(schedules.c.qualifier, schedules.c.name).where(schedules.c.function_id == function_id)
        found: dict[str, builtins.list[str]] = defaultdict(list)
        for row in self.conn.execute(query).mappings():
            qualifier = str(row["qualifier"])
            if not is_version_text(qualifier) and qualifier != "$LATEST":
                found[qualifier].append(f"schedule {row['name']}")
        return {alias: sorted(names) for alias, names in found.items()}


def _select() -> Any:
    return select(schedules, functions.c.name.label("function_name")).join(
        functions, functions.c.id == schedules.c.function_id
    )


def _record(r: Any) -> ScheduleRecord:
    return ScheduleRecord(
        name=r["name"],
        function=r["function_name"],
        function_id=int(r["function_id"]),
        qualifier=r["qualifier"],
        expression=r["expression"],
        timezone=r["timezone"],
        input=r["input"],
        enabled=bool(r["enabled"]),
        missed=r["missed"],
        anchor=utc(r["anchor"]),
        next_fire_at=None if r["next_fire_at"] is None else utc(r["next_fire_at"]),
        last_fired_at=None if r["last_fired_at"] is None else utc(r["last_fired_at"]),
        last_result=None if r["last_result"] is None else dict(r["last_result"]),
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
        queued=bool(r["queued"]),
    )
