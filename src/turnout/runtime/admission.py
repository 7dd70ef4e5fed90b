"""Admission to run: a function's concurrency slots on this node, and the queues of requests waiting for one.

A request enters when its function runs fewer invocations than its limit (:attr:`Supervisor.limit`) and
nobody is waiting before it. Otherwise it waits in its version's FIFO queue, bounded by length
(``max_queue``, per version) and by time (``max_wait_s``); a freed slot goes to the request that has waited
longest among the function's versions, so each version's queue is served in order. A full queue, or a wait
past its bound, answers :class:`Throttled` with a ``Retry-After``; a limit of 0 (reserved concurrency 0)
refuses at once, without queueing.

Everything here runs on the event loop: no locks, and a freed slot is handed straight to the next waiter
(the in-flight count does not drop), so a newcomer can never overtake the queue.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from turnout.errors import Throttled

RETRY_AFTER_S = 1  # what a queue throttle tells the client to wait before trying again
WAIT_SAMPLES = 1000  # queue waits kept per version for `turnout workers` (most recent)


@dataclass(eq=False)
class _Waiter:
    version: str
    since: float
    admitted: asyncio.Future[None]


@dataclass
class QueueStats:
    """One version's queue: requests waiting now, and the waits of the last ``WAIT_SAMPLES`` that queued."""

    depth: int = 0
    served: int = 0  # requests that queued and then got a slot
    expired: int = 0  # requests that queued and were throttled (full queue or wait past the bound)
    waits: deque[float] = field(default_factory=lambda: deque(maxlen=WAIT_SAMPLES))

    def percentile_ms(self, q: float) -> float | None:
        """Nearest-rank percentile of the recent waits, in milliseconds.

        >>> stats = QueueStats(waits=deque([0.01, 0.02, 0.03, 0.04]))
        >>> stats.percentile_ms(0.5)
        20.0
        """
        if not self.waits:
            return None
        ordered = sorted(self.waits)
        return round(ordered[max(1, math.ceil(q * len(ordered))) - 1] * 1000.0, 3)


class Admission:
    def __init__(
        self,
        limit: Callable[[str], int],
        max_queue: int,
        max_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.in_flight: Counter[str] = Counter()
        self.queues: dict[tuple[str, str], QueueStats] = {}
        self._waiting: dict[str, deque[_Waiter]] = {}

    def __repr__(self) -> str:
        waiting = sum(s.depth for s in self.queues.values())
        return f"Admission(running={sum(self.in_flight.values())}, waiting={waiting})"

    async def enter(self, function: str, version: str) -> float:
        """Take a slot of ``function`` (waiting for one if needed); returns the seconds waited."""
        limit = self.limit(function)
        if limit <= 0:
            raise Throttled(
                f"function {function!r} is throttled: its reserved concurrency is 0: invocations are stopped",
                limit=0,
            )
        if self.in_flight[function] < limit and not self._waiting.get(function):
            self.in_flight[function] += 1
            return 0.0
        return await self._wait(function, version, limit)

    def leave(self, function: str) -> None:
        """Give back a slot: to the longest-waiting request of the function, else to the free slots."""
        self.in_flight[function] -= 1
        self._admit(function)

    def stats(self, function: str, version: str) -> QueueStats:
        return self.queues.get((function, version)) or QueueStats()

    def forget(self, function: str) -> None:
        """The function was deleted: its waiters are throttled now, its figures dropped."""
        for waiter in self._waiting.pop(function, deque()):
            if not waiter.admitted.done():
                waiter.admitted.set_exception(Throttled(f"function {function!r} was deleted"))
        for key in [k for k in self.queues if k[0] == function]:
            del self.queues[key]

    async def _wait(self, function: str, version: str, limit: int) -> float:
        stats = self.queues.setdefault((function, version), QueueStats())
        if stats.depth >= self.max_queue:
            stats.expired += 1
            raise self._throttled(function, limit, f"{stats.depth} requests already wait for it")
        waiter = _Waiter(version, self.clock(), asyncio.get_running_loop().create_future())
        self._waiting.setdefault(function, deque()).append(waiter)
        stats.depth += 1
        expiry = asyncio.get_running_loop().call_later(self.max_wait_s, self._expire, function, waiter)
        try:
            await asyncio.shield(waiter.admitted)
        except asyncio.CancelledError:  # the client went away: give up its place, or the slot it just got
            if waiter.admitted.done() and not waiter.admitted.cancelled() and not waiter.admitted.exception():
                self.leave(function)
            else:
                self._drop(function, waiter)
            raise
        finally:
            expiry.cancel()
            stats.depth -= 1
        waited = self.clock() - waiter.since
        stats.served += 1
        stats.waits.append(waited)
        return waited

    def _admit(self, function: str) -> None:
        waiting = self._waiting.get(function)
        if not waiting:
            return
        limit = self.limit(function)
        while waiting and self.in_flight[function] < limit:
            waiter = waiting.popleft()
            if waiter.admitted.done():
                continue
            self.in_flight[function] += 1
            waiter.admitted.set_result(None)
        if not waiting:
            del self._waiting[function]

    def _expire(self, function: str, waiter: _Waiter) -> None:
        if waiter.admitted.done():
            return
        self._drop(function, waiter)
        stats = self.queues.setdefault((function, waiter.version), QueueStats())
        stats.expired += 1
        reason = f"no slot came free within {self.max_wait_s:g} s"
        waiter.admitted.set_exception(self._throttled(function, self.limit(function), reason))

    def _drop(self, function: str, waiter: _Waiter) -> None:
        waiting = self._waiting.get(function)
        if waiting is not None and waiter in waiting:
            waiting.remove(waiter)
            if not waiting:
                del self._waiting[function]

    def _throttled(self, function: str, limit: int, reason: str) -> Throttled:
        return Throttled(
            f"function {function!r} is throttled: it is running {limit} invocations, its concurrency limit, "
            f"and {reason}",
            limit=limit,
            retry_after=RETRY_AFTER_S,
        )
