"""The change feed across nodes: PostgreSQL LISTEN/NOTIFY plus the durable change sequence.

Writing side (:meth:`ClusterFeed.journal`, installed as ``Store.journal``): a transaction that announced
changes appends them to the ``changes`` table and NOTIFYs, just before it commits, so other nodes hear of
a change exactly when it is visible to them.

Reading side (a thread): one dedicated connection LISTENs; every notification (and, as a safety net,
every ``poll_s``) makes the node read the rows after the last sequence number it applied, and deliver the
ones other nodes wrote to the local :class:`~turnout.services.changes.ChangeFeed` (this node's own were
delivered when they committed). A lost connection is retried with backoff; on reconnect the node reads
everything it missed. When the rows it needs were already pruned, it reloads everything (``all``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url

from turnout.errors import StoreUnavailable
from turnout.services.changes import ALL, ChangeFeed
from turnout.store import Store, Tx
from turnout.store.changes import CHANNEL, Change

log = logging.getLogger(__name__)


class ClusterFeed:
    def __init__(
        self,
        store: Store,
        feed: ChangeFeed,
        node: str,
        clock: Callable[[], datetime],
        poll_s: float = 5.0,
        retention_s: float = 3600.0,
    ) -> None:
        self.store, self.feed, self.node, self.clock = store, feed, node, clock
        self.poll_s, self.retention_s = poll_s, retention_s
        self.last = 0  # the newest sequence number applied
        self.listening = False
        self.listened = False  # listened at least once (the readiness probe's condition)
        self.applied = 0  # changes of other nodes delivered here
        self._stop = threading.Event()
        self._reading = threading.Lock()  # one reader of the sequence at a time: nothing delivered twice
        self._thread: threading.Thread | None = None
        self._conninfo = make_url(store.engine.url.render_as_string(hide_password=False)).set(
            drivername="postgresql"
        ).render_as_string(hide_password=False)

    def __repr__(self) -> str:
        return f"ClusterFeed(node={self.node!r}, last={self.last}, listening={self.listening})"

    # -- writing ----------------------------------------------------------------------------------------

    def journal(self, tx: Tx) -> None:
        """``Store.journal``: the transaction's announced changes join the sequence as it commits."""
        tx.changes.append(tx.announced, self.node, self.clock())

    # -- reading ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start from the newest change: whatever came before is already in the store this node reads."""
        with self.store.read() as tx:
            self.last = tx.changes.last()
        self._thread = threading.Thread(target=self._run, name="turnout-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.catch_up()  # whatever was committed while no one listened
                    self.listening = self.listened = True
                    backoff = 0.2
                    log.info("change feed listening (from change %d)", self.last)
                    self._listen(conn)
            except (psycopg.Error, StoreUnavailable, OSError) as exc:
                if self.listening:
                    log.warning("change feed lost its connection (%s); reconnecting", exc)
                self.listening = False
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        self.listening = False

    def _listen(self, conn: psycopg.Connection) -> None:
        polled = time.monotonic()
        while not self._stop.is_set():
            woke = any(True for _ in conn.notifies(timeout=0.5, stop_after=1))
            if woke or time.monotonic() - polled >= self.poll_s:
                for _ in conn.notifies(timeout=0):
                    pass  # one read answers every notification that has arrived meanwhile
                self.catch_up()
                polled = time.monotonic()

    def catch_up(self) -> int:
        """Deliver every change after the last applied one; returns how many came from other nodes."""
        with self._reading:
            return self._catch_up()

    def _catch_up(self) -> int:
        delivered = 0
        while True:
            with self.store.read() as tx:
                rows = tx.changes.after(self.last)
                # a gap after the last applied row: pruned rows, or numbers a rolled-back writer skipped
                first = tx.changes.first() if rows and rows[0].seq > self.last + 1 else None
            if self.last > 0 and first is not None and first > self.last + 1:
                log.warning("change feed missed pruned changes after %d: reloading everything", self.last)
                self.feed.deliver([(ALL, "*")])
            if not rows:
                return delivered
            delivered += self._apply(rows)

    def _apply(self, rows: list[Change]) -> int:
        foreign = [(r.topic, r.key) for r in rows if r.node != self.node]
        if foreign:
            self.feed.deliver(dict.fromkeys(foreign))  # each (topic, key) once per batch, in order
            self.applied += len(foreign)
        self.last = rows[-1].seq
        return len(foreign)

    def prune(self) -> int:
        """Delete changes older than the retention (any node may; one row is always kept)."""
        before = self.clock() - timedelta(seconds=self.retention_s)
        with self.store.write() as tx:
            return tx.changes.prune(before, keep_last=1)

