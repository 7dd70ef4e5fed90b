"""Rows of the durable change sequence (cluster mode): what other nodes must follow, in commit order.

A writer appends its transaction's changes just before it commits, under a transaction-level advisory lock
on PostgreSQL, so sequence numbers are handed out in commit order: a reader that has applied every row up to
``seq`` never finds a smaller one appear later. ``NOTIFY`` in the same transaction wakes the listeners of
every node when (and only if) the transaction commits.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select, text

from turnout.store.rows import utc
from turnout.store.schema import changes

CHANNEL = "turnout_changes"
_LOCK_KEY = 0x7475726E  # "turn": one lock id for every writer of the sequence


@dataclass(frozen=True)
class Change:
    seq: int
    topic: str
    key: str
    node: str
    at: datetime


class ChangeRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, announced: Iterable[tuple[str, str]], node: str, now: datetime) -> None:
        rows = [{"topic": topic, "key": key, "node": node, "at": now} for topic, key in announced]
        if not rows:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        self.conn.execute(changes.insert(), rows)
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_notify(:channel, :node)"), {"channel": CHANNEL, "node": node})

    def after(self, seq: int, limit: int = 1000) -> builtins.list[Change]:
        query = select(changes).where(changes.c.seq > seq).order_by(changes.c.seq).limit(limit)
        return [Change(r.seq, r.topic, r.key, r.node, utc(r.at)) for r in self.conn.execute(query)]

    def last(self) -> int:
        return int(self.conn.execute(select(func.coalesce(func.max(changes.c.seq), 0))).scalar_one())

    def first(self) -> int | None:
        """The oldest sequence number still kept (``None``: none kept)."""
        found: int | None = self.conn.execute(select(func.min(changes.c.seq))).scalar_one()
        return None if found is None else int(found)

    def prune(self, before: datetime, keep_last: int) -> int:
        """Delete rows older than ``before``, always keeping the newest ``keep_last`` (so ``last`` holds)."""
        newest = self.last()
        query = delete(changes).where(changes.c.at < before, changes.c.seq <= newest - keep_last)
        return int(self.conn.execute(query).rowcount or 0)
