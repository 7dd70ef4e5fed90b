"""Runs queued async invocations: at-least-once, retries with backoff, dead letters (issue 6).

A background loop on the app's event loop leases due events from the store (``EventQueue.claim``),
runs each through the gateway's routing table and the runtime, and records the attempt and the event's
next state (``turnout.domain.retry``). Leases are renewed while an attempt runs; a node that dies leaves
its leases to run out, and the events are taken again (at-least-once: a handler may see an event twice).

- The first recorded attempt pins the version the alias picked; retries run on it (through the alias,
  so its settings still apply; on the bare version if the alias is gone).
- Async work takes at most half of a function's concurrency limit on this node, so a backlog drains
  without starving synchronous calls; a Throttled attempt waits and counts as no attempt.
- An event that cannot run (payload not JSON, function, alias or version gone) is dead-lettered with the
  reason at once; so is one past the maximum age.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import Counter
from typing import Any

from turnout.clock import Clock
from turnout.domain.destination import EventConfig
from turnout.domain.destination import record as destination_record
from turnout.domain.names import parse_qualifier, split_qualified
from turnout.domain.retry import (
    Next,
    RetryPolicy,
    Status,
    after_failure,
    after_success,
    after_throttle,
    too_old,
)
from turnout.errors import AliasNotFound, InvalidInput, NotFound, Throttled, TurnoutError
from turnout.gateway.entry import InvocationEntry
from turnout.gateway.invoke import Invocation
from turnout.runtime.supervisor import Outcome, Target
from turnout.services import Services
from turnout.services.queue import FollowUp, Settlement
from turnout.services.tokens import Principal
from turnout.settings import Settings
from turnout.store.events import EventRecord

log = logging.getLogger(__name__)

#: At most this many async attempts run at once on a node, all functions together.
ASYNC_MAX_IN_FLIGHT = 256
ASYNC_BATCH = 64
EXPIRE_EVERY_S = 60.0  # how often succeeded events past their retention are looked for

DISPATCHER = Principal("async-dispatcher", frozenset({"invoke", "deploy"}))


class Dispatcher:
    def __init__(self, services: Services, entry: InvocationEntry, settings: Settings, clock: Clock) -> None:
        self.services, self.entry, self.settings, self.clock = services, entry, settings, clock
        self.gateway = entry.gateway
        self.queue = services.queue
        self.policy = RetryPolicy(
            max_retries=settings.async_max_retries,
            max_age_s=float(settings.async_max_age_s),
            base_delay_s=settings.async_backoff_ms / 1000,
        )
        self.node = settings.node
        self.lease_s, self.poll_s = float(settings.async_lease_s), settings.async_poll_ms / 1000
        self._in_flight: Counter[str] = Counter()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ended: list[Settlement] = []  # attempts that ended, written in one transaction
        self._ended_wake = asyncio.Event()
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"Dispatcher(node={self.node!r}, running={len(self._running)})"

    def start(self) -> None:
        """Begin the background loop (called in the app's lifespan, on its event loop)."""
        self._loop = asyncio.get_running_loop()
        self.queue.wake.append(self.wake)
        self._tasks = [
            self._loop.create_task(self._run()),
            self._loop.create_task(self._heartbeat()),
            self._loop.create_task(self._write_ended()),
        ]
        if self.settings.async_retention_s > 0:
            self._tasks.append(self._loop.create_task(self._expire()))

    def wake(self, function: str | None = None) -> None:
        """Look for due events now (thread-safe); not for a function already at its async limit here."""
        if function is not None and self._room(function) <= 0:
            return  # its running attempts wake the loop when they end
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """End the loop; give up this node's leases."""
        with contextlib.suppress(ValueError):
            self.queue.wake.remove(self.wake)
        for task in [*self._tasks, *self._running.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._running.values(), return_exceptions=True)
        try:
            await self._flush()
            await asyncio.to_thread(self.queue.release, self.node)
        except TurnoutError:
            log.warning("could not release this node's async event leases")

    def limit(self, function: str) -> int:
        """Async attempts of one function at once: half its concurrency limit (at least one)."""
        return max(1, self.gateway.supervisor.limit(function) // 2)

    def _room(self, function: str) -> int:
        return self.limit(function) - self._in_flight[function]

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            free = ASYNC_MAX_IN_FLIGHT - len(self._running)
            claimed: list[EventRecord] = []
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(
                        self.queue.claim, self.node, self.lease_s, self._room, min(free, ASYNC_BATCH)
                    )
                except Exception:  # noqa: BLE001 - the next round tries again
                    log.exception("could not claim async events")
            for event in claimed:
                self._in_flight[event.function] += 1
                self._running[event.id] = asyncio.get_running_loop().create_task(self._attempt(event))
            if len(claimed) < min(max(free, 1), ASYNC_BATCH):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if self._running:
                try:
                    await asyncio.to_thread(self.queue.renew, self.node, list(self._running), self.lease_s)
                except Exception:  # noqa: BLE001 - the next beat tries again
                    log.exception("could not renew async event leases")

    async def _expire(self) -> None:
        """Delete succeeded events past their retention, now and then (every node does; deletes are
        idempotent and batched)."""
        retention = float(self.settings.async_retention_s)
        every = min(EXPIRE_EVERY_S, max(retention / 10, 0.5))
        while True:
            try:
                gone = await asyncio.to_thread(self.queue.expire, retention)
                if gone:
                    log.info("deleted %d succeeded async events older than %.0f s", gone, retention)
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("could not delete expired async events")
            await asyncio.sleep(every)

    async def _attempt(self, event: EventRecord) -> None:
        try:
            await self._attempt_once(event)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the lease runs out and the event is taken again
            log.exception("async event %s failed in the dispatcher", event.id)
        finally:
            self._in_flight[event.function] -= 1
            if self._in_flight[event.function] <= 0:
                del self._in_flight[event.function]
            self._running.pop(event.id, None)

    async def _attempt_once(self, event: EventRecord) -> None:
        try:
            json.loads(event.payload)
        except ValueError as exc:
            await self._dead(event, "InvalidRequestContent", f"the payload is not JSON: {exc}")
            return
        payload = event.payload.encode()
        try:
            target = await self._resolve(event, payload)
        except (NotFound, InvalidInput) as exc:
            await self._dead(event, exc.code, exc.message)
            return
        config = self._config(event)
        policy = self.policy if config is None else config.policy(self.policy)
        if too_old(policy, event.accepted_at, self.clock()):
            await self._dead(
                event, "MaxEventAgeExceeded", "the event waited past its maximum age", config=config
            )
            return
        started = self.clock()
        try:
            outcome = await self._invoke(target, event, payload)
        except Throttled:
            after = after_throttle(policy, event.accepted_at, self.clock(), self._random.random())
            follow_up = self._follow_up(config, event, after, None, event.attempts, None, event.last_error)
            await self._settle(event, after, follow_up=follow_up)
            return
        except TurnoutError as exc:
            outcome = Outcome(
                target.label, error={"code": exc.code, "message": exc.message, "type": exc.code}
            )
        attempts = event.attempts + 1
        attempt: dict[str, Any] = {
            "attempt": attempts,
            "version": target.label,
            "started_at": started.isoformat(),
            "outcome": outcome.error_code or "Success",
            "duration_ms": round(outcome.duration_ms, 3),
        }
        if outcome.error is None:
            after = after_success()
            follow_up = self._follow_up(config, event, after, target.label, attempts, outcome.payload, None)
            await self._settle(event, after, version=target.version, attempt=attempt, follow_up=follow_up)
            return
        after = after_failure(policy, attempts, event.accepted_at, self.clock(), self._random.random())
        error = {k: outcome.error.get(k) for k in ("code", "type", "message", "trace")}
        if after.reason is not None:
            error["reason"] = after.reason
        follow_up = self._follow_up(config, event, after, target.label, attempts, None, error)
        await self._settle(
            event, after, version=target.version, attempt=attempt, error=error, follow_up=follow_up
        )

    def _config(self, event: EventRecord) -> EventConfig | None:
        """The async config of the qualifier the event was sent to (as the routing table has it)."""
        entry = self.gateway.table.get(event.function)
        if entry is None or not entry.event_configs:
            return None
        return entry.event_configs.get(str(parse_qualifier(event.qualifier)))

    def _follow_up(
        self,
        config: EventConfig | None,
        event: EventRecord,
        after: Next,
        version: str | None,
        attempts: int,
        response: bytes | None,
        error: dict[str, Any] | None,
    ) -> FollowUp | None:
        """The destination's event for an event that ended ``after`` (None: no destination for it)."""
        target = None if config is None else config.destination(after)
        if target is None:
            return None
        function, qualifier = split_qualified(target)
        payload = destination_record(
            request_id=event.id,
            function_arn=self.gateway.arn(event.function, event.qualifier),
            after=after,
            attempts=attempts,
            request_payload=event.payload,
            executed_version=version,
            response=response,
            error=error,
            when=self.clock(),
        )
        return FollowUp(function, qualifier, payload)

    async def _resolve(self, event: EventRecord, payload: bytes) -> Target:
        """The first attempt lets the alias pick; later ones run on the version the first one pinned."""
        if event.version is None:
            return await self.gateway.resolve(
                Invocation(event.function, event.qualifier, payload, DISPATCHER)
            )
        if event.qualifier is not None and parse_qualifier(event.qualifier).alias is not None:
            pinned = Invocation(
                event.function, event.qualifier, payload, DISPATCHER, override=str(event.version)
            )
            with contextlib.suppress(AliasNotFound):
                return await self.gateway.resolve(pinned)  # the pinned version, with the alias's settings
        return await self.gateway.resolve(Invocation(event.function, str(event.version), payload, DISPATCHER))

    async def _invoke(self, target: Target, event: EventRecord, payload: bytes) -> Outcome:
        """Through the invocation entry, with the event's request id (the same for every attempt)."""
        return await self.entry.run(target, event.qualifier, payload, event.id)

    async def _dead(
        self, event: EventRecord, code: str, message: str, config: EventConfig | None = None
    ) -> None:
        error = {"code": code, "message": message, "reason": f"{code}: {message}"}
        after = Next(Status.DEAD, reason=error["reason"])
        last = event.last_error or error
        follow_up = self._follow_up(config, event, after, None, event.attempts, None, last)
        await self._settle(event, after, error=error, follow_up=follow_up)

    async def _settle(
        self,
        event: EventRecord,
        after: Next,
        *,
        version: int | None = None,
        attempt: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        follow_up: FollowUp | None = None,
    ) -> None:
        self._ended.append(Settlement(event.id, after, version, attempt, error, follow_up))
        self._ended_wake.set()
        if after.status is Status.DEAD:
            log.warning("async event %s of %s dead-lettered: %s", event.id, event.function, after.reason)
        if after.due_at is not None and self._loop is not None:
            delay = max(0.0, (after.due_at - self.clock()).total_seconds())
            self._loop.call_later(delay, self._wake.set)

    async def _write_ended(self) -> None:
        while True:
            await self._ended_wake.wait()
            self._ended_wake.clear()
            try:
                await self._flush()
            except Exception:  # noqa: BLE001 - the leases run out and the events are taken again
                log.exception("could not record the end of async attempts")
            self._wake.set()  # room for more

    async def _flush(self) -> None:
        ended, self._ended = self._ended, []
        if not ended:
            return
        kept = await asyncio.to_thread(self.queue.settle_many, self.node, ended)
        for item, ok in zip(ended, kept, strict=True):
            if not ok:
                log.warning("async event %s: the lease ran out before the attempt ended", item.event_id)
