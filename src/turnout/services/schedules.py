"""Schedules: cron and rate expressions bound to a function's qualifier (issue 6).

Each schedule stores its next unclaimed tick (``next_fire_at``). Firing a tick is claiming it first: one
transaction moves ``next_fire_at`` forward with a compare-and-set, and only the claimer that moved it
invokes. A tick is therefore never fired twice, across restarts and across nodes sharing a store; a node
that dies between the claim and the invocation loses that one tick (at most once).
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from turnout.clock import Clock
from turnout.domain.names import LATEST, parse_qualifier
from turnout.domain.schedule import (
    Firing,
    check_missed,
    parse_expression,
    parse_zone,
    plan_firing,
)
from turnout.errors import AlreadyExists, InvalidInput, InvalidName, ScheduleNotFound
from turnout.services.aliases import load_alias
from turnout.services.changes import ChangeFeed
from turnout.services.functions import load_function
from turnout.services.versions import load_version
from turnout.store import Store
from turnout.store.schedules import ScheduleRecord

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_INPUT_BYTES = 256 * 1024


@dataclass(frozen=True)
class NewSchedule:
    name: str
    expression: str
    function: str
    qualifier: str | None = None  # None: $LATEST
    timezone: str = "UTC"
    input: Any = None  # a JSON value sent instead of the scheduled event; None: the event
    enabled: bool = True
    missed: str = "fire-once"
    queued: bool = False  # ticks go on the durable async queue (retries, dead letters) instead of invoking


def check_schedule_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidName(
            f"invalid schedule name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            name=name,
        )
    return name


class ScheduleService:
    def __init__(self, store: Store, clock: Clock, changes: ChangeFeed) -> None:
        self.store, self.clock, self.changes = store, clock, changes

    def __repr__(self) -> str:
        return f"ScheduleService({self.store!r})"

    def add(self, new: NewSchedule) -> ScheduleRecord:
        """Create a schedule; its qualifier must exist (FunctionNotFound, AliasNotFound, VersionNotFound)."""
        name = check_schedule_name(new.name)
        expression = parse_expression(new.expression)
        timezone = new.timezone or "UTC"
        zone = parse_zone(timezone)
        missed = check_missed(new.missed)
        text = None if new.input is None else json.dumps(new.input, separators=(",", ":"))
        if text is not None and len(text.encode()) > MAX_INPUT_BYTES:
            raise InvalidInput(f"the fixed input is over {MAX_INPUT_BYTES} bytes")
        now = self.clock()
        anchor = now.replace(microsecond=0)
        with self.store.write() as tx:
            function = load_function(tx, new.function)
            qualifier = parse_qualifier(new.qualifier)
            if qualifier.alias is not None:
                load_alias(tx, function, qualifier.alias)
            elif qualifier.version is not None:
                load_version(tx, function, qualifier.version)
            if tx.schedules.get(name) is not None:
                raise AlreadyExists(f"schedule {name!r} exists already", schedule=name)
            following = expression.next_after(now, zone, anchor) if new.enabled else None
            tx.schedules.insert(
                name,
                function.id,
                _qualifier_text(new.qualifier),
                expression.text,
                timezone,
                text,
                new.enabled,
                missed,
                anchor,
                following,
                now,
                new.queued,
            )
            saved = tx.schedules.get(name)
        assert saved is not None
        return saved

    def get(self, name: str) -> ScheduleRecord:
        with self.store.read() as tx:
            return _load(tx.schedules.get(name), name)

    def list(self, function: str | None = None) -> list[ScheduleRecord]:
        with self.store.read() as tx:
            function_id = None if function is None else load_function(tx, function).id
            return tx.schedules.list(function_id)

    def delete(self, name: str) -> None:
        with self.store.write() as tx:
            if not tx.schedules.delete(name):
                raise ScheduleNotFound(f"there is no schedule {name!r}", schedule=name)

    def set_enabled(self, name: str, enabled: bool) -> ScheduleRecord:
        """Enable (the next tick is the first after now: ticks while disabled never fire) or disable."""
        now = self.clock()
        with self.store.write() as tx:
            found = _load(tx.schedules.get(name), name)
            if found.enabled != enabled:
                following = next_tick(found, now) if enabled else None
                tx.schedules.set_enabled(name, enabled, following, now)
                found = _load(tx.schedules.get(name), name)
        return found

    def due(self, now: datetime | None = None) -> builtins.list[ScheduleRecord]:
        with self.store.read() as tx:
            return tx.schedules.due(now or self.clock())

    def claim(
        self,
        schedule: ScheduleRecord,
        now: datetime,
        grace: timedelta,
        events: Callable[[Firing], builtins.list[tuple[str, str]]] | None = None,
    ) -> Firing | None:
        """Claim the schedule's due ticks (as read in ``schedule``): the Firing to carry out, or None when
        another claimer (node, or a change to the schedule) got there first. For a queued schedule,
        ``events`` makes the (id, JSON payload) of each invocation, and they are put on the async queue in
        the claim's own transaction: a tick is then claimed and queued together, or neither."""
        if schedule.next_fire_at is None or schedule.next_fire_at > now:
            return None
        firing = plan_firing(
            parse_expression(schedule.expression),
            parse_zone(schedule.timezone),
            schedule.anchor,
            schedule.next_fire_at,
            now,
            schedule.missed,
            grace,
        )
        with self.store.write() as tx:
            fires = bool(firing.ticks) or firing.catch_up is not None
            won = tx.schedules.claim(
                schedule.name, schedule.next_fire_at, firing.next_fire_at, now if fires else None
            )
            if won and schedule.queued and events is not None:
                for event_id, payload in events(firing):
                    tx.events.insert(event_id, schedule.function, schedule.qualifier, payload, now)
        return firing if won else None

    def record_result(self, name: str, result: dict[str, Any]) -> None:
        with self.store.write() as tx:
            tx.schedules.record_result(name, result)


def next_tick(schedule: ScheduleRecord, after: datetime) -> datetime | None:
    expression = parse_expression(schedule.expression)
    return expression.next_after(after, parse_zone(schedule.timezone), schedule.anchor)


def _qualifier_text(qualifier: str | None) -> str:
    return LATEST if qualifier in (None, "") else str(qualifier)


def _load(found: ScheduleRecord | None, name: str) -> ScheduleRecord:
    if found is None:
        raise ScheduleNotFound(f"there is no schedule {name!r}", schedule=name)
    return found
