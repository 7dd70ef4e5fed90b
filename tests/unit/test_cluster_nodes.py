"""Cluster-wide limits divided over live nodes, node states, and the readiness probe's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from turnout.cluster.nodes import ALIVE, DEAD, STOPPED, share, state
from turnout.gateway.readiness import Readiness
from turnout.store.nodes import NodeRecord

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("total", [0, 1, 2, 3, 4, 10, 101])
@pytest.mark.parametrize("live", [("a",), ("a", "b"), ("a", "b", "c"), ("c", "a", "b", "d")])
def test_shares_add_up_to_exactly_the_total_and_differ_by_at_most_one(
    total: int, live: tuple[str, ...]
) -> None:
    parts = [share(total, live, node) for node in sorted(live)]
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # the remainder goes to the first names


def test_a_node_not_yet_listed_counts_itself_in() -> None:
    assert share(3, ("a", "b"), "c") == 1  # three members, c the last of them
    assert share(7, (), "solo") == 7  # one node: all of it


def test_reserved_two_over_three_nodes_leaves_the_last_at_zero() -> None:
    assert [share(2, ("node1", "node2", "node3"), n) for n in ("node1", "node2", "node3")] == [1, 1, 0]


def _node(seen_ago: float, stopped: bool = False) -> NodeRecord:
    seen = NOW - timedelta(seconds=seen_ago)
    return NodeRecord(
        "n", "http://n:1", "0.1.0", NOW - timedelta(hours=1), seen, seen if stopped else None, {}
    )


def test_a_node_is_alive_until_its_heartbeat_is_older_than_the_limit_or_it_stopped() -> None:
    assert state(_node(9.9), NOW, 10) == ALIVE
    assert state(_node(10.1), NOW, 10) == DEAD
    assert state(_node(0, stopped=True), NOW, 10) == STOPPED


def test_readiness_lists_every_reason_and_degradation_does_not_make_a_node_unready() -> None:
    feed = {"listened": False, "listening": False}
    ready = Readiness(
        checks={"the change feed has not started listening": lambda: feed["listened"]},
        warnings={"the change feed is reconnecting to the store": lambda: feed["listening"]},
    )
    assert ready.reasons() == [
        "the routing table is not loaded yet",
        "the change feed has not started listening",
    ]
    ready.loaded, feed["listened"], feed["listening"] = True, True, True
    assert ready.reasons() == [] and ready.degraded() == []
    feed["listening"] = False  # the store went away after start: still serving from memory
    assert ready.reasons() == [] and ready.degraded() == ["the change feed is reconnecting to the store"]
    ready.draining = True
    assert ready.reasons() == ["draining for shutdown"]
