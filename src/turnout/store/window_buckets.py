"""Rows of the rollout window buckets every node publishes (``window_buckets``, docs/cluster.md).

A row is one second of one node's (function, version, channel) window; ``data`` holds its counts and
sampled durations as JSON (``turnout.cluster.buckets`` owns that shape). Readers first ask for the cheap
fingerprints (invocations and comparisons, read out of the JSON by the database) and then fetch only the
rows that changed since they last looked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from turnout.store.schema import window_buckets

# (node, version, channel, second): a row of one function
BucketKey = tuple[str, str, str, int]
_CHUNK = 400  # keys per IN list


@dataclass(frozen=True)
class BucketRow:
    node: str
    function: str
    version: str
    channel: str
    second: int
    data: dict[str, Any]

    @property
    def key(self) -> BucketKey:
        return self.node, self.version, self.channel, self.second


class WindowBucketRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put(self, rows: Sequence[BucketRow]) -> None:
        """Insert the rows, or replace the ``data`` of those already there."""
        if not rows:
            return
        insert = (postgresql if self.conn.dialect.name == "postgresql" else sqlite).insert
        for start in range(0, len(rows), _CHUNK):
            statement = insert(window_buckets).values([_values(r) for r in rows[start : start + _CHUNK]])
            keys = ["node", "function", "version", "channel", "second"]
            self.conn.execute(
                statement.on_conflict_do_update(index_elements=keys, set_={"data": statement.excluded.data})
            )

    def fingerprints(self, function: str, since: int, other_than: str) -> dict[BucketKey, tuple[int, int]]:
        """(invocations, compared) of every row of ``function`` from second ``since`` on, of every node
        but ``other_than``."""
        c = window_buckets.c
        query = select(
            c.node,
            c.version,
            c.channel,
            c.second,
            c.data["invocations"].as_integer().label("invocations"),
            c.data["compared"].as_integer().label("compared"),
        ).where(c.function == function, c.second >= since, c.node != other_than)
        return {
            (r.node, r.version, r.channel, int(r.second)): (int(r.invocations or 0), int(r.compared or 0))
            for r in self.conn.execute(query)
        }

    def read(self, function: str, keys: Sequence[BucketKey]) -> list[BucketRow]:
        """The rows of ``function`` with these keys (those still there)."""
        c = window_buckets.c
        found: list[BucketRow] = []
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            query = select(c.node, c.version, c.channel, c.second, c.data).where(
                c.function == function, tuple_(c.node, c.version, c.channel, c.second).in_(chunk)
            )
            found += [
                BucketRow(r.node, function, r.version, r.channel, int(r.second), dict(r.data))
                for r in self.conn.execute(query)
            ]
        return found

    def prune(self, before: int) -> int:
        """Delete every node's rows older than second ``before`` (nodes that died never prune their own)."""
        return self.conn.execute(delete(window_buckets).where(window_buckets.c.second < before)).rowcount

    def remove(self, node: str, function: str) -> None:
        """Delete one node's rows of a function (it was deleted)."""
        c = window_buckets.c
        self.conn.execute(delete(window_buckets).where(and_(c.node == node, c.function == function)))


def _values(row: BucketRow) -> dict[str, Any]:
    return {
        "node": row.node,
        "function": row.function,
        "version": row.version,
        "channel": row.channel,
        "second": row.second,
        "data": row.data,
    }
