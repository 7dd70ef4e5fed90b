"""Nodes you can see: heartbeats in the ``nodes`` table, who is alive, and each node's share of a limit.

Every node (one on SQLite too) writes its heartbeat every ``beat_s``: address, version, started, and what it
runs (pools, busy workers, readiness). A node whose heartbeat is older than ``dead_after_s`` is dead: the
first live node to notice lets its rollout and async-event leases run out at once, so live nodes take them
over instead of waiting for the leases to expire. A node that stops cleanly says so (``stopped_at``).

Limits that are cluster-wide (reserved and provisioned concurrency) are divided over the live nodes by
:func:`share`; when the set of live nodes changes, ``on_change`` listeners re-apply them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from turnout.errors import StoreUnavailable
from turnout.store import Store
from turnout.store.nodes import NodeRecord

log = logging.getLogger(__name__)
ALIVE, DEAD, STOPPED = "alive", "dead", "stopped"


def share(total: int, live: tuple[str, ...], node: str) -> int:
    """This node's part of a cluster-wide ``total``: an equal split, the remainder to the first nodes by
    name, so the parts add up to exactly ``total`` (a node not yet in ``live`` counts as the last one).

    >>> [share(10, ("a", "b", "c"), n) for n in "abc"]
    [4, 3, 3]
    >>> share(2, ("a", "b", "c"), "c"), share(7, (), "a")
    (0, 7)
    """
    members = sorted(set(live) | {node})
    count, index = len(members), members.index(node)
    return total // count + (1 if index < total % count else 0)


def state(record: NodeRecord, now: datetime, dead_after_s: float) -> str:
    if record.stopped_at is not None:
        return STOPPED
    return ALIVE if now - record.seen_at <= timedelta(seconds=dead_after_s) else DEAD


@dataclass(frozen=True)
class Identity:
    name: str
    address: str  # the URL peers reach this node at
    version: str
    started_at: datetime


class Membership:
    def __init__(
        self,
        store: Store,
        me: Identity,
        clock: Callable[[], datetime],
        beat_s: float,
        dead_after_s: float,
        info: Callable[[], dict[str, Any]],
    ) -> None:
        self.store, self.me, self.clock = store, me, clock
        self.beat_s, self.dead_after_s = beat_s, dead_after_s
        self.info = info
        self.live: tuple[str, ...] = (me.name,)
        self.on_change: list[Callable[[], None]] = []
        self._freed: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._store_down = False

    def __repr__(self) -> str:
        return f"Membership(node={self.me.name!r}, live={len(self.live)})"

    def share(self, total: int) -> int:
        return share(total, self.live, self.me.name)

    def peers(self) -> list[NodeRecord]:
        """The other live nodes, as the store lists them now."""
        now = self.clock()
        with self.store.read() as tx:
            records = tx.nodes.list()
        return [r for r in records if r.name != self.me.name and state(r, now, self.dead_after_s) == ALIVE]

    def list(self) -> list[tuple[NodeRecord, str]]:
        now = self.clock()
        with self.store.read() as tx:
            return [(r, state(r, now, self.dead_after_s)) for r in tx.nodes.list()]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.to_thread(self._stopped)
        except StoreUnavailable:
            log.warning("could not record this node's stop: the store is unavailable")

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.beat)
                if self._store_down:
                    log.info("heartbeats reach the store again")
                self._store_down = False
            except StoreUnavailable as exc:
                if not self._store_down:
                    log.warning("heartbeat failed: %s", exc)
                self._store_down = True
            except Exception:  # noqa: BLE001 - the loop must outlive any one failure
                log.exception("heartbeat failed")
            await asyncio.sleep(self.beat_s)

    def beat(self) -> None:
        """Write this node's heartbeat, then look at the others: free the leases of the newly dead."""
        now = self.clock()
        info = self.info()
        with self.store.write() as tx:
            tx.nodes.beat(self.me.name, self.me.address, self.me.version, self.me.started_at, now, info)
            records = tx.nodes.list()
            for record in records:
                dead = state(record, now, self.dead_after_s) != ALIVE
                if dead and record.name not in self._freed and record.name != self.me.name:
                    moved = tx.nodes.free_leases(record.name, now)
                    if moved or record.stopped_at is None:
                        why = state(record, now, self.dead_after_s)
                        log.warning("node %s is %s: %d of its leases move on", record.name, why, moved)
                    self._freed.add(record.name)
                elif not dead:
                    self._freed.discard(record.name)
        live = tuple(sorted(r.name for r in records if state(r, now, self.dead_after_s) == ALIVE))
        if live != self.live:
            log.info("live nodes: %s", ", ".join(live))
            self.live = live
            for listener in self.on_change:
                listener()

    def _stopped(self) -> None:
        with self.store.write() as tx:
            tx.nodes.stop(self.me.name, self.clock())
