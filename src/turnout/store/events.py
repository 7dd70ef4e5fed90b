"""Rows of the async event queue: enqueue, lease due events, record outcomes, the dead-letter list."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from turnout.domain.retry import Status
from turnout.store.rows import utc
from turnout.store.schema import events


@dataclass(frozen=True)
class EventRecord:
    id: str
    function: str
    qualifier: str | None
    version: int | None
    payload: str
    status: Status
    attempts: int
    attempt_log: list[dict[str, Any]]
    last_error: dict[str, Any] | None
    enqueued_at: datetime
    accepted_at: datetime
    due_at: datetime
    updated_at: datetime
    lease_owner: str | None
    lease_until: datetime | None


class EventRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(
        self, event_id: str, function: str, qualifier: str | None, payload: str, now: datetime
    ) -> None:
        self.conn.execute(
            events.insert().values(
                id=event_id,
                function=function,
                qualifier=qualifier,
                version=None,
                payload=payload,
                status=Status.QUEUED.value,
                attempts=0,
                attempt_log=[],
                last_error=None,
                enqueued_at=now,
                accepted_at=now,
                due_at=now,
                updated_at=now,
            )
        )

    def get(self, event_id: str) -> EventRecord | None:
        row = self.conn.execute(select(events).where(events.c.id == event_id)).first()
        return None if row is None else _record(row)

    def claim(
        self,
        owner: str,
        until: datetime,
        now: datetime,
        room: Callable[[str], int],
        limit: int,
    ) -> builtins.list[EventRecord]:
        """Lease up to ``limit`` due events (queued, or running under a lease that has run out).

        ``room(function)`` says how many more events of that function this node may take now. The
        UPDATE re-checks that each event is still free, so two nodes never both take one.
        """
        free = or_(events.c.lease_until.is_(None), events.c.lease_until < now)
        due = and_(
            events.c.status.in_([Status.QUEUED.value, Status.RUNNING.value]), events.c.due_at <= now, free
        )
        query = (
            select(events.c.id, events.c.function)
            .where(due)
            .order_by(events.c.due_at)
            .limit(limit * 4)
            .with_for_update(skip_locked=True)
        )
        taken: dict[str, int] = {}
        chosen: builtins.list[str] = []
        for row in self.conn.execute(query):
            event_id, function = str(row.id), str(row.function)
            if taken.get(function, 0) < room(function):
                taken[function] = taken.get(function, 0) + 1
                chosen.append(event_id)
                if len(chosen) >= limit:
                    break
        if not chosen:
            return []
        self.conn.execute(
            update(events)
            .where(and_(events.c.id.in_(chosen), due))
            .values(status=Status.RUNNING.value, lease_owner=owner, lease_until=until, updated_at=now)
        )
        mine = select(events).where(
            events.c.id.in_(chosen), events.c.lease_owner == owner, events.c.lease_until == until
        )
        return [_record(r) for r in self.conn.execute(mine.order_by(events.c.due_at))]

    def renew(self, owner: str, ids: Sequence[str], until: datetime) -> None:
        if ids:
            query = update(events).where(events.c.id.in_(ids), events.c.lease_owner == owner)
            self.conn.execute(query.values(lease_until=until))

    def finish(
        self,
        event_id: str,
        owner: str,
        *,
        status: Status,
        now: datetime,
        due_at: datetime | None = None,
        version: int | None = None,
        attempt: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Record an attempt's end and the event's next state; False if ``owner`` lost the lease."""
        row = self.conn.execute(
            select(events.c.attempts, events.c.attempt_log, events.c.version)
            .where(events.c.id == event_id, events.c.lease_owner == owner)
            .with_for_update()
        ).first()
        if row is None:
            return False
        values: dict[str, Any] = {
            "status": status.value,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
        }
        if due_at is not None:
            values["due_at"] = due_at
        if attempt is not None:
            values["attempts"] = row.attempts + 1
            values["attempt_log"] = [*row.attempt_log, attempt]
            if row.version is None and version is not None:
                values["version"] = version  # the first recorded attempt pins the version
        if error is not None:
            values["last_error"] = error
        self.conn.execute(update(events).where(events.c.id == event_id).values(**values))
        return True

    def release(self, owner: str, now: datetime) -> None:
        """Give up every lease ``owner`` holds (a node shutting down): those events are due again."""
        query = update(events).where(events.c.lease_owner == owner)
        self.conn.execute(
            query.values(status=Status.QUEUED.value, lease_owner=None, lease_until=None, updated_at=now)
        )

    def list(
        self,
        status: Status | None,
        function: str | None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[EventRecord]:
        query = select(events)
        if status is not None:
            query = query.where(events.c.status == status.value)
        if function is not None:
            query = query.where(events.c.function == function)
        if after is not None:
            query = query.where(events.c.id > after)
        return [_record(r) for r in self.conn.execute(query.order_by(events.c.id).limit(limit))]

    def redrive(self, ids: Sequence[str], now: datetime) -> int:
        """Queue dead events again as new: attempts, pinned version and age start over; the log stays."""
        if not ids:
            return 0
        query = update(events).where(events.c.id.in_(ids), events.c.status == Status.DEAD.value)
        values = {
            "status": Status.QUEUED.value,
            "attempts": 0,
            "version": None,
            "accepted_at": now,
            "due_at": now,
            "updated_at": now,
            "lease_owner": None,
            "lease_until": None,
        }
        return int(self.conn.execute(query.values(**values)).rowcount)

    def purge(self, status: Status, function: str | None) -> int:
        query = delete(events).where(events.c.status == status.value)
        if function is not None:
            query = query.where(events.c.function == function)
        return int(self.conn.execute(query).rowcount)

    def expire(self, status: Status, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` events in ``status`` that last changed before ``before``."""
        old = (
            select(events.c.id)
            .where(events.c.status == status.value, events.c.due_at < before, events.c.updated_at < before)
            .limit(limit)
        )
        return int(self.conn.execute(delete(events).where(events.c.id.in_(old))).rowcount)

    def counts(self, function: str | None = None) -> dict[str, int]:
        query = select(events.c.status, func.count()).group_by(events.c.status)
        if function is not None:
            query = query.where(events.c.function == function)
        return {str(row[0]): int(row[1]) for row in self.conn.execute(query)}


def _record(row: Any) -> EventRecord:
    return EventRecord(
        id=row.id,
        function=row.function,
        qualifier=row.qualifier,
        version=row.version,
        payload=row.payload,
        status=Status(row.status),
        attempts=row.attempts,
        attempt_log=list(row.attempt_log or []),
        last_error=row.last_error,
        enqueued_at=utc(row.enqueued_at),
        accepted_at=utc(row.accepted_at),
        due_at=utc(row.due_at),
        updated_at=utc(row.updated_at),
        lease_owner=row.lease_owner,
        lease_until=None if row.lease_until is None else utc(row.lease_until),
    )
