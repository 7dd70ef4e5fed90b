"""Log pages of several nodes merged into one by time, and the cursor that remembers a position per node.

Each node keeps its own invocation logs and answers a page of them (:class:`NodePage`); the node a client
asked merges the pages (:func:`merge`). The ``next`` cursor it answers is a :class:`Cursor`: each node's
own log position (``gateway.logs`` cursors), plus a *floor* time for nodes it has no position for (they
did not answer, or did not exist yet), so a node that comes back later shows what it ran since that time
instead of its whole history. Clients see the cursor as an opaque string; a bare integer (the cursor of
one node, as Turnout answered before cluster mode) is still accepted: that position on the node asked,
the other nodes from their start. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from turnout.errors import InvalidInput

VERSION = 1


@dataclass(frozen=True)
class NodePage:
    """One node's records (oldest first) after a position, or its newest ones (``positions`` empty)."""

    node: str
    records: list[dict[str, Any]]
    next: int
    positions: list[int] = field(default_factory=list)  # forward reads: the position after each record


@dataclass(frozen=True)
class Cursor:
    """Where a reader is in each node's log; ``floor`` (an ISO time) for the nodes it has no position in."""

    positions: Mapping[str, int]
    floor: str | None = None

    def __repr__(self) -> str:
        return f"Cursor({dict(sorted(self.positions.items()))!r}, floor={self.floor!r})"

    def encode(self) -> str:
        """The opaque text clients send back as ``after``.

        >>> Cursor.decode(Cursor({"a": 10}, "2024-05-01T12:00:00.000Z").encode(), "x")
        Cursor({'a': 10}, floor='2024-05-01T12:00:00.000Z')
        """
        body = {"v": VERSION, "p": dict(sorted(self.positions.items())), "f": self.floor}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, here: str) -> Cursor:
        """A cursor from ``encode``, or a bare integer: that position on node ``here``, others from 0.

        >>> Cursor.decode("120", "a")
        Cursor({'a': 120}, floor=None)
        """
        text = text.strip()
        if text.isdigit():
            return cls({here: int(text)})
        try:
            body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            return cls(_positions(body["p"]), _floor(body.get("f")))
        except (ValueError, TypeError, KeyError, binascii.Error) as exc:
            why = f"after={text[:80]!r} is not a cursor: send the `next` of an earlier answer"
            raise InvalidInput(why) from exc

    def start(self, node: str, since: str | None) -> tuple[int | None, str | None]:
        """What to ask ``node`` for: (its position, or None for its newest records; the since to apply).

        >>> c = Cursor({"a": 7}, "2024-05-01T12:00:00.000Z")
        >>> c.start("a", None), c.start("b", None), c.start("b", "2999-01-01T00:00:00.000Z")
        ((7, None), (0, '2024-05-01T12:00:00.000Z'), (0, '2999-01-01T00:00:00.000Z'))
        """
        if node in self.positions:
            return self.positions[node], since
        floor = self.floor if since is None or (self.floor is not None and self.floor > since) else since
        return 0, floor


def merge(
    pages: list[NodePage], limit: int, before: Cursor | None, floor: str
) -> tuple[list[dict[str, Any]], Cursor]:
    """Merge the nodes' pages by time into at most ``limit`` records, and the cursor that follows them.

    Without ``before`` (the newest records) the pages are each node's newest, and the answer is the
    newest ``limit`` of them all; every node that answered goes on from its end, the others from
    ``floor`` (now). With ``before`` (paging forward) the answer is the oldest ``limit``; a node goes on
    from just after the last of its records that made it in, and nodes that did not answer keep the
    position they had, so no record is answered twice nor skipped.

    >>> a = NodePage("a", [{"time": "1"}, {"time": "3"}], 40, [20, 40])
    >>> b = NodePage("b", [{"time": "2"}, {"time": "4"}], 90, [50, 90])
    >>> records, cursor = merge([a, b], 3, Cursor({"a": 0, "c": 5}), "9")
    >>> [r["time"] for r in records], cursor
    (['1', '2', '3'], Cursor({'a': 40, 'b': 50, 'c': 5}, floor=None))
    >>> merge([a, b], 3, None, "9")[1]
    Cursor({'a': 40, 'b': 90}, floor='9')
    """
    ordered = list(heapq.merge(*(_tagged(p) for p in pages), key=lambda item: item[0]))
    if before is None:
        kept = ordered[-limit:] if limit > 0 else []
        return [r for _, _, r in kept], Cursor({p.node: p.next for p in pages}, floor)
    kept = ordered[:limit]
    taken: dict[str, int] = {}
    for _, (node, _index), _record in kept:
        taken[node] = taken.get(node, 0) + 1
    positions = dict(before.positions)
    for page in pages:
        count = taken.get(page.node, 0)
        if count == len(page.records):
            positions[page.node] = page.next
        elif count > 0:
            positions[page.node] = page.positions[count - 1]
    return [r for _, _, r in kept], Cursor(positions, before.floor)


def _tagged(page: NodePage) -> Iterator[tuple[tuple[str, str, int], tuple[str, int], dict[str, Any]]]:
    """The page's records in its own order, keyed by (time, node, index) so ties break the same way."""
    for index, record in enumerate(page.records):
        yield (str(record.get("time", "")), page.node, index), (page.node, index), record


def _positions(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise TypeError("positions must be an object")
    positions = {str(k): v for k, v in value.items()}
    if not all(type(v) is int and v >= 0 for v in positions.values()):
        raise ValueError("positions must be whole numbers")
    return positions


def _floor(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("floor must be a time")
    return value
