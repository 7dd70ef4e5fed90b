"""Rows of shared resources (name -> current version) and of their history."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from turnout.domain.compat import Resource, ResourceChange
from turnout.store.rows import utc
from turnout.store.schema import resource_history, resources


class ResourceRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, name: str, lock: bool = False) -> Resource | None:
        query = select(resources).where(resources.c.name == name)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _resource(row)

    def list(self) -> builtins.list[Resource]:
        query = select(resources).order_by(resources.c.name)
        return [_resource(r) for r in self.conn.execute(query).mappings()]

    def versions(self, names: builtins.list[str] | None = None, share: bool = False) -> dict[str, str]:
        """Current versions (name -> version) of the named resources (all when ``names`` is None).
        ``share`` holds them (PostgreSQL ``FOR SHARE``) until the transaction ends, so a resource move
        waits for an alias move that checked against it, and the other way round."""
        query = select(resources.c.name, resources.c.version)
        if names is not None:
            if not names:
                return {}
            query = query.where(resources.c.name.in_(sorted(names)))
        if share:
            query = query.with_for_update(read=True)
        return {row.name: row.version for row in self.conn.execute(query.order_by(resources.c.name))}

    def put(self, resource: Resource, exists: bool) -> None:
        values = {
            "version": resource.version,
            "updated_by": resource.updated_by,
            "updated_at": resource.updated_at,
        }
        if exists:
            self.conn.execute(update(resources).where(resources.c.name == resource.name).values(**values))
        else:
            self.conn.execute(
                resources.insert().values(name=resource.name, created_at=resource.created_at, **values)
            )

    def record(self, change: ResourceChange) -> None:
        self.conn.execute(
            resource_history.insert().values(
                resource=change.resource,
                before=change.before,
                after=change.after,
                actor=change.actor,
                reason=change.reason,
                forced=change.forced,
                details=dict(change.details),
                at=change.at,
            )
        )

    def history(self, name: str, limit: int = 100) -> builtins.list[ResourceChange]:
        """The resource's moves, newest first."""
        query = (
            select(resource_history)
            .where(resource_history.c.resource == name)
            .order_by(resource_history.c.id.desc())
            .limit(limit)
        )
        return [_change(r) for r in self.conn.execute(query).mappings()]


def _resource(row: Mapping[Any, Any]) -> Resource:
    return Resource(
        name=row["name"],
        version=row["version"],
        updated_by=row["updated_by"],
        updated_at=utc(row["updated_at"]),
        created_at=utc(row["created_at"]),
    )


def _change(row: Mapping[Any, Any]) -> ResourceChange:
    return ResourceChange(
        id=row["id"],
        resource=row["resource"],
        before=row["before"],
        after=row["after"],
        actor=row["actor"],
        reason=row["reason"],
        forced=bool(row["forced"]),
        details=dict(row["details"]),
        at=utc(row["at"]),
    )
