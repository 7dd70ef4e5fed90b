"""Fires schedules: each tick exactly once, across restarts and nodes (issue 6).

Every ``tick_s`` the loop reads the enabled schedules whose next tick is due, claims each one with a
compare-and-set in its own transaction (``ScheduleService.claim``), and only when the claim wins invokes
the function in a background task: one invocation per tick that is at most ``grace`` late, and for
older (missed) ticks one catch-up invocation (policy ``fire-once``) or none (``skip``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from turnout.clock import Clock
from turnout.domain.ids import new_request_id
from turnout.domain.schedule import Firing, iso_z, scheduled_event
from turnout.errors import TurnoutError
from turnout.gateway.entry import Door, InvocationEntry
from turnout.gateway.invoke import Invocation
from turnout.services import Services
from turnout.services.tokens import Principal
from turnout.settings import Settings
from turnout.store.schedules import ScheduleRecord

log = logging.getLogger(__name__)
PRINCIPAL = Principal("scheduler", frozenset({"invoke"}))
STOP_WAIT_S = 5.0


class Scheduler:
    def __init__(self, services: Services, entry: InvocationEntry, settings: Settings, clock: Clock) -> None:
        self.services, self.entry, self.settings, self.clock = services, entry, settings, clock
        self.tick_s = settings.schedule_tick_ms / 1000
        self.grace = timedelta(milliseconds=settings.schedule_grace_ms)
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return "Scheduler()"

    def start(self) -> None:
        """Begin the background loop (called in the app's lifespan, on its event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """End the loop; let invocations already started finish for a moment (no leases to give up:
        a claimed tick is done, an unclaimed one is any node's to claim)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=STOP_WAIT_S)
            for task in pending:
                task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("scheduler pass failed")
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> int:
        """One pass: claim and start every due tick; returns how many invocations it started."""
        started = 0
        now = self.clock()
        for schedule in await asyncio.to_thread(self.services.schedules.due, now):
            events = functools.partial(self._events, schedule)
            try:
                claim = self.services.schedules.claim
                firing = await asyncio.to_thread(claim, schedule, now, self.grace, events)
            except TurnoutError as error:
                log.warning("could not claim schedule %s: %s", schedule.name, error)
                continue
            if firing is None:
                continue
            if schedule.queued:  # already on the queue, in the claim's transaction
                for wake in self.services.queue.wake:
                    wake(schedule.function)
                result = {"status": "queued", "at": iso_z(now), "ticks": len(_invocations(firing))}
                await asyncio.to_thread(self.services.schedules.record_result, schedule.name, result)
                started += 1
                continue
            for tick, detail in _invocations(firing):
                task = asyncio.get_running_loop().create_task(self._fire(schedule, tick, detail))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
                started += 1
        return started

    def _payload(self, schedule: ScheduleRecord, tick: datetime, detail: dict[str, Any]) -> bytes:
        if schedule.input is not None:
            return schedule.input.encode()
        event = scheduled_event(schedule.name, tick, self.settings.region, self.settings.account_id, detail)
        return json.dumps(event).encode()

    def _events(self, schedule: ScheduleRecord, firing: Firing) -> list[tuple[str, str]]:
        """(event id, JSON payload) of each invocation of a queued schedule's firing."""
        return [
            (new_request_id(), self._payload(schedule, tick, detail).decode())
            for tick, detail in _invocations(firing)
        ]

    async def _fire(self, schedule: ScheduleRecord, tick: datetime, detail: dict[str, Any]) -> None:
        payload = self._payload(schedule, tick, detail)
        result: dict[str, Any] = {"tick": iso_z(tick), "at": iso_z(self.clock())}
        if detail:
            result["missed"] = detail.get("missedTicks")
        try:
            request_id, outcome = await self.entry.invoke(
                Invocation(schedule.function, schedule.qualifier, payload, PRINCIPAL), Door.SCHEDULE
            )
        except TurnoutError as error:
            result |= {"status": "error", "error": error.to_dict()}
        except Exception as exc:  # noqa: BLE001 - recorded on the schedule, the loop goes on
            log.exception("schedule %s failed to invoke", schedule.name)
            result |= {"status": "error", "error": {"code": "InternalError", "message": str(exc)}}
        else:
            result["request_id"] = request_id
            if outcome.error is None:
                result["status"] = "ok"
            else:
                failure = outcome.error
                result |= {
                    "status": "error",
                    "error": {"code": failure.get("code"), "message": failure.get("message")},
                }
        try:
            await asyncio.to_thread(self.services.schedules.record_result, schedule.name, result)
        except TurnoutError as error:
            log.warning("could not record the result of schedule %s: %s", schedule.name, error)


def _invocations(firing: Firing) -> list[tuple[datetime, dict[str, Any]]]:
    """(tick, detail) per invocation, the catch-up (if any) first."""
    calls: list[tuple[datetime, dict[str, Any]]] = []
    if firing.catch_up is not None and firing.first_missed is not None:
        detail = {
            "catchUp": True,
            "missedTicks": firing.missed,
            "firstMissed": iso_z(firing.first_missed),
            "lastMissed": iso_z(firing.catch_up),
        }
        calls.append((firing.catch_up, detail))
    calls.extend((tick, {}) for tick in firing.ticks)
    return calls
