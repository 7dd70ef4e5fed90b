"""Shadow traffic: mirror a share of an alias's live requests to a candidate version, discard its answers.

A gateway observer. When a request routed to the baseline of an alias in a shadow phase has been
answered, a copy of it runs on the candidate (with the alias's settings) in the background; the copy's
outcome lands in the ``shadow`` channel of the metrics windows, and, with ``compare_output``, whether its
answer equals the baseline's (as JSON, so key order and spacing do not count). Only functions declared
idempotent get shadow traffic (checked when the rollout starts). A copy never takes the last free slot
of the function's concurrency limit: when the function is that busy, the request is not mirrored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass

from turnout.domain.ids import new_request_id
from turnout.errors import TurnoutError
from turnout.gateway.invoke import Gateway, Record
from turnout.gateway.window import SHADOW, Windows
from turnout.runtime.supervisor import Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mirroring:
    rollout_id: int
    baseline: int
    candidate: int
    share_bp: int
    compare_output: bool


class Mirror:
    def __init__(self, gateway: Gateway, windows: Windows) -> None:
        self.gateway = gateway
        self.windows = windows
        self.active: dict[tuple[str, str], Mirroring] = {}
        self.skipped = 0  # requests not mirrored because the function was at its concurrency limit
        self._tasks: set[asyncio.Task[None]] = set()
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"Mirror(active={len(self.active)})"

    def start(self, function: str, alias: str, mirroring: Mirroring) -> None:
        self.active[(function, alias)] = mirroring

    def stop(self, rollout_id: int) -> None:
        for key in [k for k, m in self.active.items() if m.rollout_id == rollout_id]:
            del self.active[key]

    def observe(self, record: Record) -> None:
        """A gateway observer (runs on the event loop after each answered invocation)."""
        if not self.active or record.qualifier is None:
            return
        mirroring = self.active.get((record.target.function, record.qualifier))
        if mirroring is None or record.target.version != mirroring.baseline:
            return
        if self._random.random() * 10_000 >= mirroring.share_bp:
            return
        supervisor = self.gateway.supervisor
        if supervisor.in_flight[record.target.function] >= supervisor.limit(record.target.function) - 1:
            self.skipped += 1
            return
        task = asyncio.get_running_loop().create_task(self._mirror(record, mirroring))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mirror(self, record: Record, mirroring: Mirroring) -> None:
        function, alias = record.target.function, record.qualifier
        try:
            entry = self.gateway.table.get(function)
            if entry is None:
                return
            if mirroring.candidate not in entry.versions:
                found = await asyncio.to_thread(self.gateway.table.version, entry, mirroring.candidate)
                if found is None:
                    return
            target = entry.target(mirroring.candidate, alias)
            arn = self.gateway.arn(function, alias)
            outcome = await self.gateway.supervisor.invoke(target, record.payload, new_request_id(), arn)
        except TurnoutError as error:  # throttled in between, or the function went away: not mirrored
            log.debug("shadow copy of %s not run: %s", record.request_id, error)
            return
        self.windows.add(function, outcome, SHADOW, timeout_s=target.config.timeout)
        if mirroring.compare_output and record.outcome.error is None and outcome.error is None:
            self.windows.compare(function, outcome.version, same_answer(record.outcome, outcome))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.active.clear()


def same_answer(baseline: Outcome, candidate: Outcome) -> bool:
    """Equal as JSON values (falls back to bytes when either is not JSON).

    >>> same_answer(Outcome("1", b'{"a": 1, "b": 2}'), Outcome("2", b'{"b":2,"a":1}'))
    True
    """
    if baseline.payload == candidate.payload:
        return True
    try:
        return bool(json.loads(baseline.payload) == json.loads(candidate.payload))
    except ValueError:
        return False
