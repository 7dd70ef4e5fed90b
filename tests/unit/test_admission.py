"""Admission: a function's concurrency slots and the per-version FIFO queues of requests waiting for one."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from turnout.errors import Throttled
from turnout.runtime.admission import Admission

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_requests_past_the_limit_wait_and_are_served_in_arrival_order() -> None:
    async def scenario() -> list[str]:
        gate = Admission(lambda f: 2, max_queue=10, max_wait_s=5.0)
        order: list[str] = []

        async def call(name: str, version: str) -> None:
            await gate.enter("fn", version)
            order.append(name)
            await asyncio.sleep(0.01)
            gate.leave("fn")

        await asyncio.gather(*(call(f"r{i}", "1" if i % 2 else "2") for i in range(8)))
        assert gate.in_flight["fn"] == 0 and gate.stats("fn", "1").depth == 0
        assert gate.stats("fn", "1").served + gate.stats("fn", "2").served == 6
        return order

    assert _run(scenario()) == [f"r{i}" for i in range(8)]


def test_a_wait_past_the_bound_is_throttled_with_retry_after_and_frees_its_place() -> None:
    async def scenario() -> None:
        gate = Admission(lambda f: 1, max_queue=10, max_wait_s=0.05)
        await gate.enter("fn", "1")
        with pytest.raises(Throttled) as throttled:
            await gate.enter("fn", "1")
        assert throttled.value.headers == {"Retry-After": "1"}
        assert "within 0.05 s" in throttled.value.message
        assert gate.stats("fn", "1").depth == 0 and gate.stats("fn", "1").expired == 1
        gate.leave("fn")
        assert await gate.enter("fn", "1") == 0.0  # nobody waits: straight in

    _run(scenario())


def test_a_full_queue_refuses_at_once_per_version() -> None:
    async def scenario() -> None:
        gate = Admission(lambda f: 1, max_queue=2, max_wait_s=5.0)
        await gate.enter("fn", "1")
        waiting = [asyncio.create_task(gate.enter("fn", "1")) for _ in range(2)]
        other = asyncio.create_task(gate.enter("fn", "2"))  # version 2 has a queue of its own
        await asyncio.sleep(0)
        with pytest.raises(Throttled, match="2 requests already wait"):
            await gate.enter("fn", "1")
        assert gate.stats("fn", "1").depth == 2 and gate.stats("fn", "2").depth == 1
        for _ in range(3):
            gate.leave("fn")
            await asyncio.sleep(0)
        await asyncio.gather(*waiting, other)
        gate.leave("fn")
        assert gate.in_flight["fn"] == 0

    _run(scenario())


def test_reserved_zero_refuses_at_once_without_retry_after() -> None:
    async def scenario() -> None:
        gate = Admission(lambda f: 0, max_queue=10, max_wait_s=5.0)
        with pytest.raises(Throttled, match="stopped") as stopped:
            await gate.enter("fn", "1")
        assert stopped.value.headers == {} and gate.stats("fn", "1").depth == 0

    _run(scenario())


def test_a_cancelled_waiter_gives_up_its_place_and_never_leaks_a_slot() -> None:
    async def scenario() -> None:
        gate = Admission(lambda f: 1, max_queue=10, max_wait_s=5.0)
        await gate.enter("fn", "1")
        gone = asyncio.create_task(gate.enter("fn", "1"))
        behind = asyncio.create_task(gate.enter("fn", "1"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        gate.leave("fn")
        assert await behind >= 0.0  # the slot went past the cancelled request
        gate.leave("fn")
        assert gate.in_flight["fn"] == 0
        # admitted, then cancelled before it ran: the slot it was handed comes back
        await gate.enter("fn", "1")
        handed = asyncio.create_task(gate.enter("fn", "1"))
        await asyncio.sleep(0)
        gate.leave("fn")
        handed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handed
        assert gate.in_flight["fn"] == 0

    _run(scenario())
