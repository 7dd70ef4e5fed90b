"""Rollout window buckets in the store: rows upserted, read by fingerprint, pruned; and two nodes' publishers
sharing one store, each judging the other's traffic. Every test runs on SQLite and on PostgreSQL (cluster
mode only wires the publisher on PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.store.conftest import FakeClock, Kit, code
from turnout.cluster.windows import MergedWindows, WindowPublisher
from turnout.domain.plan import Plan
from turnout.domain.strategy import canary
from turnout.gateway.window import LIVE, SHADOW, Windows
from turnout.runtime.supervisor import Outcome
from turnout.services.rollouts import RolloutRequest
from turnout.store import Store, open_store
from turnout.store.window_buckets import BucketRow

FN = "thumbs"
S = 1_700_000_000


def data(invocations: int, compared: int = 0) -> dict[str, object]:
    return {"invocations": invocations, "errors": {}, "durations": [1.0], "compared": compared}


def put(store: Store, *rows: BucketRow) -> None:
    with store.write() as tx:
        tx.window_buckets.put(list(rows))


def test_a_bucket_is_inserted_then_replaced_and_read_back(backend: Store) -> None:
    put(backend, BucketRow("a", FN, "2", LIVE, S, data(3)))
    put(backend, BucketRow("a", FN, "2", LIVE, S, data(5)), BucketRow("a", FN, "2", SHADOW, S, data(0, 2)))
    with backend.read() as tx:
        stamps = tx.window_buckets.fingerprints(FN, S, other_than="me")
        rows = tx.window_buckets.read(FN, sorted(stamps))
    assert stamps == {("a", "2", LIVE, S): (5, 0), ("a", "2", SHADOW, S): (0, 2)}
    assert {r.key: r.data["invocations"] for r in rows} == {("a", "2", LIVE, S): 5, ("a", "2", SHADOW, S): 0}


def test_a_reader_sees_other_nodes_rows_from_a_second_on(backend: Store) -> None:
    put(
        backend,
        BucketRow("me", FN, "2", LIVE, S, data(1)),
        BucketRow("b", FN, "2", LIVE, S - 1, data(1)),
        BucketRow("b", FN, "2", LIVE, S, data(2)),
        BucketRow("b", "other", "2", LIVE, S, data(9)),
    )
    with backend.read() as tx:
        assert tx.window_buckets.fingerprints(FN, S, other_than="me") == {("b", "2", LIVE, S): (2, 0)}
        assert tx.window_buckets.read(FN, [("b", "2", LIVE, S + 5)]) == []


def test_pruning_deletes_every_nodes_old_rows_and_a_deleted_function_goes(backend: Store) -> None:
    put(
        backend,
        BucketRow("a", FN, "1", LIVE, S - 10, data(1)),
        BucketRow("b", FN, "1", LIVE, S - 10, data(1)),
        BucketRow("a", FN, "1", LIVE, S, data(1)),
        BucketRow("b", FN, "1", LIVE, S, data(1)),
    )
    with backend.write() as tx:
        assert tx.window_buckets.prune(before=S - 5) == 2
        tx.window_buckets.remove("a", FN)
    with backend.read() as tx:
        assert set(tx.window_buckets.fingerprints(FN, 0, other_than="")) == {("b", "1", LIVE, S)}


class EpochClock:
    """Epoch seconds for the windows, following the store tests' fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __call__(self) -> float:
        return self.clock().timestamp() + 0.5


@pytest.fixture
def rolling(kit: Kit) -> Kit:
    """Versions 1 and 2 of FN, ``prod`` on 1 and a rollout to 2 running."""
    for n in (1, 2):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.alias(FN, "prod", 1)
    kit.services.rollouts.start(FN, "prod", RolloutRequest(2, canary(1000, 60), Plan()), "alice")
    return kit


def node(kit: Kit, name: str) -> WindowPublisher:
    windows = Windows(keep_s=3600, clock=EpochClock(kit.clock))
    return WindowPublisher(kit.store, MergedWindows(windows, name))


def invoke(publisher: WindowPublisher, version: str, ms: float = 10.0, error: bool = False) -> None:
    failure = {"code": "Function.Unhandled", "message": "boom"} if error else None
    publisher.local.add(FN, Outcome(version, error=failure, duration_ms=ms), LIVE)


def test_each_node_judges_the_other_nodes_traffic_as_it_grows(rolling: Kit) -> None:
    a, b = node(rolling, "node-a"), node(rolling, "node-b")
    since = a.local.clock() - 5
    for _ in range(3):
        invoke(a, "2", error=True)
    invoke(b, "2", ms=30.0)
    asyncio.run(a.cycle())
    asyncio.run(b.cycle())
    seen_by_b = b.merged.window(FN, "2", since)
    assert (seen_by_b.invocations, seen_by_b.errors) == (4, {"Function.Unhandled": 3})
    invoke(a, "2", error=True)  # the same second again: the row is replaced, not added
    rolling.clock.advance(1)
    invoke(a, "1")
    asyncio.run(a.cycle())
    asyncio.run(b.cycle())
    assert b.merged.window(FN, "2", since).invocations == 5
    assert b.merged.window(FN, "1", since).invocations == 1
    asyncio.run(a.cycle())  # node a now reads node b's rows too
    assert a.merged.window(FN, "2", since).invocations == 5
    assert a.merged.window(FN, "2", since).p99_ms == 30.0


def test_a_node_publishes_nothing_of_functions_without_a_running_rollout(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    kit.publish(FN)
    a = node(kit, "node-a")
    invoke(a, "1")
    asyncio.run(a.cycle())
    with kit.store.read() as tx:
        assert tx.window_buckets.fingerprints(FN, 0, other_than="") == {}


def test_a_store_that_is_down_is_logged_once_and_the_buckets_published_when_it_is_back(
    rolling: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = node(rolling, "node-a"), node(rolling, "node-b")
    down = open_store("postgresql+psycopg://postgres@127.0.0.1:1/nothing", migrate=False)
    a.store = down
    invoke(a, "2")
    with caplog.at_level(logging.WARNING, logger="turnout.cluster.windows"):
        asyncio.run(a.cycle())
        asyncio.run(a.cycle())
    assert len([r for r in caplog.records if "cannot share" in r.message]) == 1
    a.store = rolling.store
    asyncio.run(a.cycle())
    asyncio.run(b.cycle())
    assert b.merged.window(FN, "2", a.local.clock() - 5).invocations == 1
    down.close()


def test_a_deleted_functions_rows_of_this_node_are_removed(rolling: Kit) -> None:
    a = node(rolling, "node-a")
    invoke(a, "2")
    asyncio.run(a.cycle())
    a.local.forget(FN)  # as the composition root does when a function is deleted
    a.forget(FN)
    asyncio.run(a.cycle())
    with rolling.store.read() as tx:
        assert tx.window_buckets.fingerprints(FN, 0, other_than="") == {}
