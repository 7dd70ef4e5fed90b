"""The change sequence and the feed that crosses nodes (cluster mode, PostgreSQL): what one node commits,
another node's views hear of; nothing of what is rolled back; everything after a lost connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.pg import postgres_schema
from tests.support import wait_for
from turnout.cluster.feed import ClusterFeed
from turnout.services.changes import ALL, ROUTES, ChangeFeed
from turnout.store import Store, open_store

pytestmark = pytest.mark.postgres


class Node:
    """A store, a local feed that records what it hears, and the cluster feed between them."""

    def __init__(self, url: str, name: str, clock: list[datetime]) -> None:
        self.store = open_store(url)
        self.heard: list[tuple[str, str]] = []
        self.local = ChangeFeed()
        for topic in ("function", ROUTES, ALL):
            self.local.subscribe(lambda key, topic=topic: self.heard.append((topic, key)), topic)
        self.feed = ClusterFeed(self.store, self.local, name, lambda: clock[0], poll_s=0.2, retention_s=60)
        self.store.journal = self.feed.journal
        self.store.committed.append(self.local.deliver)


@pytest.fixture
def nodes() -> Iterator[tuple[Node, Node, list[datetime]]]:
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    with postgres_schema() as url:
        a, b = Node(url, "a", clock), Node(url, "b", clock)
        yield a, b, clock
        for node in (a, b):
            node.feed.stop()
            node.store.close()


def change(store: Store, *announced: tuple[str, str]) -> None:
    with store.write() as tx:
        for topic, key in announced:
            tx.announce(key, topic)


def test_what_one_node_commits_the_other_hears_once_and_the_writer_hears_at_commit(
    nodes: tuple[Node, Node, list[datetime]],
) -> None:
    a, b, _ = nodes
    a.feed.start()
    b.feed.start()
    change(a.store, ("function", "fn1"), (ROUTES, "*"), ("function", "fn1"))
    assert a.heard == [("function", "fn1"), (ROUTES, "*")]  # at commit, each once
    b.feed.catch_up()
    assert b.heard == [("function", "fn1"), (ROUTES, "*")]
    assert a.feed.catch_up() == 0 and b.feed.catch_up() == 0  # a node skips its own; nothing twice


def test_a_rolled_back_change_is_heard_by_no_one(nodes: tuple[Node, Node, list[datetime]]) -> None:
    a, b, _ = nodes
    b.feed.start()
    with pytest.raises(RuntimeError), a.store.write() as tx:
        tx.announce("fn-gone")
        raise RuntimeError("the change fails")
    assert b.feed.catch_up() == 0 and b.heard == [] and a.heard == []


def test_the_listener_hears_a_change_as_it_commits(nodes: tuple[Node, Node, list[datetime]]) -> None:
    a, b, _ = nodes
    b.feed.start()
    wait_for(lambda: b.feed.listening, timeout=10, what="the listener")
    change(a.store, ("function", "fn2"))
    wait_for(lambda: ("function", "fn2") in b.heard, timeout=5, what="the notification")


def test_a_node_that_missed_pruned_changes_reloads_everything(
    nodes: tuple[Node, Node, list[datetime]],
) -> None:
    a, b, clock = nodes
    change(a.store, ("function", "zero"))
    change(a.store, ("function", "old"))
    b.feed.catch_up()  # (no listener thread here: the test decides when b reads)
    b.feed.last -= 1  # as if b had not applied "old" when it went away
    change(a.store, ("function", "one"))
    change(a.store, ("function", "two"))
    clock[0] += timedelta(hours=2)
    assert a.feed.prune() == 3  # all but the newest row are past the retention
    b.heard.clear()
    b.feed.catch_up()
    assert (ALL, "*") in b.heard and ("function", "*") in b.heard  # every view reloads everything
    assert ("function", "two") in b.heard
