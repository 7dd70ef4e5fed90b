"""Rows of HTTP routes, and the versions they pin (so those cannot be deleted)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from turnout.domain.version_number import is_version_text
from turnout.store.rows import utc
from turnout.store.schema import functions, routes


@dataclass(frozen=True)
class RouteRecord:
    """A stored route, with its function's name. ``host`` is "" for any host."""

    id: int
    function: str
    function_id: int
    qualifier: str
    method: str
    host: str
    path: str
    sticky_cookie: str | None
    sticky_header: str | None
    created_by: str
    created_at: datetime
    queued: bool = False  # requests go on the async queue and are answered 202

    @property
    def label(self) -> str:
        """How the route is named where it blocks something: ``route GET /items/{id}``."""
        return f"route {self.method} {self.host}{self.path}"


class RouteRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(
        self,
        function_id: int,
        qualifier: str,
        method: str,
        host: str,
        path: str,
        shape: str,
        sticky_cookie: str | None,
        sticky_header: str | None,
        created_by: str,
        now: datetime,
        queued: bool = False,
    ) -> int:
        result = self.conn.execute(
            routes.insert().values(
                function_id=function_id,
                qualifier=qualifier,
                method=method,
                host=host,
                path=path,
                shape=shape,
                sticky_cookie=sticky_cookie,
                sticky_header=sticky_header,
                queued=1 if queued else 0,
                created_by=created_by,
                created_at=now,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def get(self, route_id: int) -> RouteRecord | None:
        row = self.conn.execute(_select().where(routes.c.id == route_id)).mappings().first()
        return None if row is None else _record(row)

    def find(self, method: str, host: str, shape: str) -> RouteRecord | None:
        """The route that would match the same requests as (method, host, shape), if any."""
        query = _select().where(routes.c.method == method, routes.c.host == host, routes.c.shape == shape)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _record(row)

    def list(self, function_id: int | None = None) -> builtins.list[RouteRecord]:
        """All routes (or one function's), oldest first."""
        query = _select()
        if function_id is not None:
            query = query.where(routes.c.function_id == function_id)
        return [_record(r) for r in self.conn.execute(query.order_by(routes.c.id)).mappings()]

    def delete(self, route_id: int) -> bool:
        """Remove the route; False when there was none."""
        return self.conn.execute(delete(routes).where(routes.c.id == route_id)).rowcount == 1

    def references(self, function_id: int) -> dict[int, builtins.list[str]]:
        """Versions pinned by routes (qualifier a version number): number -> route labels."""
        found: dict[int, builtins.list[str]] = {}
        for record in self.list(function_id):
            if is_version_text(record.qualifier):
                found.setdefault(int(record.qualifier), []).append(record.label)
        return found

    def alias_references(self, function_id: int) -> dict[str, builtins.list[str]]:
        """Aliases named by routes: alias -> route labels."""
        found: dict[str, builtins.list[str]] = {}
        for record in self.list(function_id):
            if not is_version_text(record.qualifier) and record.qualifier != "$LATEST":
                found.setdefault(record.qualifier, []).append(record.label)
        return found


def _select() -> Any:
    return select(routes, functions.c.name.label("function_name")).join(
        functions, functions.c.id == routes.c.function_id
    )


def _record(r: Any) -> RouteRecord:
    return RouteRecord(
        id=int(r["id"]),
        function=r["function_name"],
        function_id=int(r["function_id"]),
        qualifier=r["qualifier"],
        method=r["method"],
        host=r["host"],
        path=r["path"],
        sticky_cookie=r["sticky_cookie"],
        sticky_header=r["sticky_header"],
        created_by=r["created_by"],
        created_at=utc(r["created_at"]),
        queued=bool(r["queued"]),
    )

