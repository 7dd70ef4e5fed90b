"""Merging the log pages of several nodes by time, and the cursor that keeps a position per node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from turnout.cluster.merge import Cursor, NodePage, merge
from turnout.errors import InvalidInput


@dataclass
class Node:
    """A node's log as the sink reads it: records oldest first, position = 10 x (index + 1)."""

    name: str
    times: list[str] = field(default_factory=list)

    def record(self, index: int) -> dict[str, Any]:
        return {"time": self.times[index], "request_id": f"{self.name}-{index}"}

    def page(self, start: tuple[int | None, str | None], limit: int) -> NodePage:
        after, since = start
        wanted = [i for i, t in enumerate(self.times) if since is None or t >= since]
        end = 10 * len(self.times)
        if after is None:
            newest = wanted[-limit:]
            return NodePage(self.name, [self.record(i) for i in newest], end)
        chosen = [i for i in wanted if 10 * (i + 1) > after][:limit]
        positions = [10 * (i + 1) for i in chosen]
        return NodePage(
            self.name,
            [self.record(i) for i in chosen],
            positions[-1] if len(chosen) == limit else end,
            positions,
        )


def ask(nodes: list[Node], cursor: Cursor | None, limit: int, now: str = "99", since: str | None = None):
    """What a node answering GET …/logs does: one page per (answering) node, merged."""
    starts = {n.name: (None, since) if cursor is None else cursor.start(n.name, since) for n in nodes}
    pages = [n.page(starts[n.name], limit) for n in nodes]
    return merge(pages, limit, cursor, now)


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["request_id"] for r in records]


def everything(nodes: list[Node], limit: int, cursor: Cursor) -> list[str]:
    seen: list[str] = []
    for _ in range(100):
        records, cursor = ask(nodes, cursor, limit)
        if not records:
            return seen
        seen += ids(records)
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 100])
def test_paging_forward_returns_every_record_of_every_node_once_in_time_order(limit: int) -> None:
    a = Node("a", ["01", "04", "05", "09", "10"])
    b = Node("b", ["02", "03", "06", "07", "08", "11"])
    seen = everything([a, b], limit, Cursor({}))
    assert seen == ["a-0", "b-0", "b-1", "a-1", "a-2", "b-2", "b-3", "b-4", "a-3", "a-4", "b-5"]


def test_without_a_cursor_the_answer_is_the_newest_records_of_all_nodes_and_following_goes_on() -> None:
    a, b = Node("a", ["01", "04", "05"]), Node("b", ["02", "03", "06"])
    records, cursor = ask([a, b], None, 2)
    assert ids(records) == ["a-2", "b-2"]
    assert cursor == Cursor({"a": 30, "b": 30}, floor="99")
    assert ask([a, b], cursor, 10)[0] == []  # nothing new
    a.times.append("07")
    b.times.append("08")
    newer, cursor = ask([a, b], cursor, 10)
    assert ids(newer) == ["a-3", "b-3"]
    assert ask([a, b], cursor, 10)[0] == []


def test_a_node_that_did_not_answer_keeps_its_position_and_shows_its_records_when_it_is_back() -> None:
    a, b = Node("a", ["01", "03"]), Node("b", ["02"])
    _, cursor = ask([a, b], None, 10)
    b.times += ["04", "05"]
    a.times += ["06"]
    records, cursor = ask([a], cursor, 10)  # b does not answer
    assert ids(records) == ["a-2"] and cursor.positions["b"] == 10
    records, cursor = ask([a, b], cursor, 10)  # b is back: what it ran meanwhile, once
    assert ids(records) == ["b-1", "b-2"]
    assert ask([a, b], cursor, 10)[0] == []


def test_a_node_absent_when_the_cursor_was_made_shows_only_what_it_ran_since() -> None:
    a, b = Node("a", ["10"]), Node("b", ["05", "20", "30"])
    records, cursor = ask([a], None, 10, now="15")  # b is missing: the cursor has no position for it
    assert ids(records) == ["a-0"]
    records, cursor = ask([a, b], cursor, 10)
    assert ids(records) == ["b-1", "b-2"]  # not b-0, older than the answer that missed b
    assert ask([a, b], cursor, 10)[0] == []
    assert Cursor({}, "15").start("b", "25") == (0, "25")  # the later of since and the floor


def test_equal_times_keep_one_order_across_pages() -> None:
    a, b = Node("a", ["1", "1", "1"]), Node("b", ["1", "1"])
    assert everything([a, b], 2, Cursor({})) == ["a-0", "a-1", "a-2", "b-0", "b-1"]


def test_the_cursor_is_opaque_text_that_comes_back_whole() -> None:
    cursor = Cursor({"node-a:8420": 1234, "b": 0}, "2024-05-01T12:00:00.000Z")
    text = cursor.encode()
    assert text.isascii() and "=" not in text and "node-a" not in text
    assert Cursor.decode(text, "x") == cursor
    assert Cursor.decode(Cursor({}).encode(), "x") == Cursor({})


def test_a_bare_number_is_a_position_on_the_node_asked_and_the_others_start_at_the_beginning() -> None:
    assert Cursor.decode("0", "a") == Cursor({"a": 0})
    assert Cursor.decode("512", "a").start("b", None) == (0, None)


@pytest.mark.parametrize(
    "text", ["", "-1", "not a cursor", "e30", Cursor({}).encode()[:-3] + "!!", "eyJwIjpbXX0"]
)
def test_a_cursor_that_was_not_answered_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Cursor.decode(text, "a")
    assert caught.value.code == "InvalidParameterValue"
    assert "next" in str(caught.value)
