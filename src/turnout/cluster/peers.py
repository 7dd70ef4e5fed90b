"""Reading every node's invocation logs: this node's own, and each live peer's, asked over HTTP.

Logs stay on the node that ran the invocation (``gateway/logs.py``): no write per invocation goes to
PostgreSQL, and logs keep being written while it is down. To answer ``GET /v1/functions/{fn}/logs`` a node
reads its own records and asks every live peer (:meth:`Membership.peers`) for theirs with ``?local=1``,
all at once, each within ``timeout_s``, forwarding the caller's ``Authorization`` header (tokens live in
the shared store, so the peer checks the same token). It merges the pages by time (``cluster/merge.py``);
a peer that does not answer, or answers something else than a page, is listed in ``missing_nodes`` and
never fails the call. With no live peer (one node, SQLite) this is the node's own read, plus a ``node``
field on each record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from turnout.cluster.merge import Cursor, NodePage, merge
from turnout.errors import InvalidInput
from turnout.gateway.logs import LogSink, iso
from turnout.store.nodes import NodeRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogQuery:
    """What a reader asks for: filters (``since`` already in the records' ISO form), cursor, limit."""

    version: str | None = None
    request_id: str | None = None
    since: str | None = None
    after: str | None = None
    limit: int = 100

    def params(self, after: int | None, since: str | None) -> dict[str, Any]:
        """The query string of a peer's ``?local=1`` read."""
        sent = {"local": 1, "limit": self.limit, "version": self.version, "request_id": self.request_id}
        sent |= {"since": since, "after": after}
        return {k: v for k, v in sent.items() if v is not None}


@dataclass(frozen=True)
class Missing:
    node: str
    address: str
    reason: str

    def view(self) -> dict[str, str]:
        return {"node": self.node, "address": self.address, "reason": self.reason}


class ClusterLogs:
    """A function's invocation logs across the live nodes, merged by time, with a cursor per node."""

    def __init__(
        self,
        sink: LogSink,
        node: str,
        peers: Callable[[], list[NodeRecord]],
        timeout_s: float,
        now: Callable[[], float],
    ) -> None:
        self.sink, self.node, self.peers = sink, node, peers
        self.timeout_s, self.now = timeout_s, now
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"ClusterLogs(node={self.node!r}, timeout_s={self.timeout_s})"

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def local(self, function: str, query: LogQuery) -> dict[str, Any]:
        """This node's records only (``?local=1``): ``after`` is this node's own integer position."""
        after = query.after
        if after is not None and not after.strip().isdigit():
            raise InvalidInput(f"with local=1, after must be this node's position (a number), not {after!r}")
        page = await self._own(function, query, None if after is None else int(after), query.since)
        return {"node": self.node, "records": page.records, "next": page.next, "positions": page.positions}

    async def read(self, function: str, query: LogQuery, authorization: str | None) -> dict[str, Any]:
        """Every live node's records, merged: ``records``, an opaque ``next``, and ``missing_nodes``."""
        before = None if query.after is None else Cursor.decode(query.after, self.node)
        peers = await asyncio.to_thread(self.peers)
        asks: list[Coroutine[Any, Any, NodePage | Missing]]
        asks = [self._own(function, query, *self._start(before, self.node, query))]
        asks += [self._ask(peer, function, query, before, authorization) for peer in peers]
        answers = await asyncio.gather(*asks)
        pages = [a for a in answers if isinstance(a, NodePage)]
        missing = [a for a in answers if isinstance(a, Missing)]
        records, cursor = merge(pages, query.limit, before, iso(self.now()))
        return {
            "records": records,
            "next": cursor.encode(),
            "nodes": [p.node for p in pages],
            "missing_nodes": [m.view() for m in missing],
        }

    @staticmethod
    def _start(before: Cursor | None, node: str, query: LogQuery) -> tuple[int | None, str | None]:
        return (None, query.since) if before is None else before.start(node, query.since)

    async def _own(self, function: str, query: LogQuery, after: int | None, since: str | None) -> NodePage:
        page = await asyncio.to_thread(
            self.sink.read,
            function,
            version=query.version,
            request_id=query.request_id,
            since=since,
            after=after,
            limit=query.limit,
        )
        for record in page.records:
            record["node"] = self.node
        return NodePage(self.node, page.records, page.next, page.positions)

    async def _ask(
        self,
        peer: NodeRecord,
        function: str,
        query: LogQuery,
        before: Cursor | None,
        authorization: str | None,
    ) -> NodePage | Missing:
        after, since = self._start(before, peer.name, query)
        url = f"{peer.address.rstrip('/')}/v1/functions/{function}/logs"
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await self._client().get(url, params=query.params(after, since), headers=headers)
        except httpx.TimeoutException:
            return self._missing(peer, f"did not answer within {self.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return self._missing(peer, f"is unreachable ({type(exc).__name__})")
        if response.status_code != 200:
            return self._missing(peer, f"answered {response.status_code}: {_code(response)}")
        try:
            return _page(peer.name, response.json(), forward=after is not None)
        except (ValueError, TypeError, KeyError) as exc:
            return self._missing(peer, f"answered something else than a page of logs ({exc})")

    def _missing(self, peer: NodeRecord, reason: str) -> Missing:
        log.warning("logs of node %s (%s) are missing: it %s", peer.name, peer.address, reason)
        return Missing(peer.name, peer.address, reason)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:  # made on first use, on the event loop it serves
            self._http = httpx.AsyncClient(timeout=self.timeout_s)
        return self._http


def _page(node: str, body: Any, forward: bool) -> NodePage:
    """A peer's ``?local=1`` answer, checked: records, each marked with the node, and positions."""
    records, positions = body["records"], body.get("positions") or []
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TypeError("records is not a list of objects")
    if forward and (len(positions) != len(records) or not all(type(p) is int for p in positions)):
        raise ValueError("positions do not match the records")
    if type(body["next"]) is not int:
        raise TypeError("next is not a position")
    for record in records:
        record["node"] = node
    return NodePage(node, records, body["next"], list(positions))


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or "no error code"
