"""Rows of the nodes table: each node's heartbeat, and what it last said about itself."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from turnout.store.rows import utc
from turnout.store.schema import events, nodes, rollouts


@dataclass(frozen=True)
class NodeRecord:
    name: str
    address: str
    version: str
    started_at: datetime
    seen_at: datetime
    stopped_at: datetime | None
    info: dict[str, Any]


class NodeRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def beat(
        self, name: str, address: str, version: str, started_at: datetime, now: datetime, info: dict[str, Any]
    ) -> None:
        values = {
            "address": address,
            "version": version,
            "started_at": started_at,
            "seen_at": now,
            "stopped_at": None,
            "info": info,
        }
        found = self.conn.execute(update(nodes).where(nodes.c.name == name).values(**values))
        if found.rowcount == 0:
            self.conn.execute(nodes.insert().values(name=name, **values))

    def stop(self, name: str, now: datetime) -> None:
        self.conn.execute(update(nodes).where(nodes.c.name == name).values(stopped_at=now, seen_at=now))

    def list(self) -> builtins.list[NodeRecord]:
        return [_record(r) for r in self.conn.execute(select(nodes).order_by(nodes.c.name))]

    def forget(self, name: str) -> None:
        self.conn.execute(nodes.delete().where(nodes.c.name == name))

    def free_leases(self, owner: str, now: datetime) -> int:
        """Let the rollout and event leases of a dead node run out now, so live nodes take them."""
        moved = self.conn.execute(
            update(rollouts).where(rollouts.c.lease_owner == owner, rollouts.c.lease_until > now)
            .values(lease_until=now)
        ).rowcount
        moved += self.conn.execute(
            update(events).where(events.c.lease_owner == owner, events.c.lease_until > now)
            .values(lease_until=now)
        ).rowcount
        return int(moved or 0)


def _record(row: Any) -> NodeRecord:
    stopped = None if row.stopped_at is None else utc(row.stopped_at)
    info = dict(row.info or {})
    started, seen = utc(row.started_at), utc(row.seen_at)
    return NodeRecord(row.name, row.address, row.version, started, seen, stopped, info)
