"""Rows of function URLs: one per (function, qualifier), found when serving by their url id alone."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from turnout.store.rows import utc
from turnout.store.schema import function_urls, functions


@dataclass(frozen=True)
class FunctionUrlRecord:
    """A stored function URL config, with its function's name."""

    function: str
    function_id: int
    qualifier: str
    url_id: str
    auth_type: str
    cors: dict[str, Any] | None
    invoke_mode: str
    created_at: datetime
    updated_at: datetime


class FunctionUrlRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(
        self,
        function_id: int,
        qualifier: str,
        url_id: str,
        auth_type: str,
        cors: dict[str, Any] | None,
        invoke_mode: str,
        now: datetime,
    ) -> None:
        self.conn.execute(
            function_urls.insert().values(
                function_id=function_id,
                qualifier=qualifier,
                url_id=url_id,
                auth_type=auth_type,
                cors=cors,
                invoke_mode=invoke_mode,
                created_at=now,
                updated_at=now,
            )
        )

    def get(self, function_id: int, qualifier: str) -> FunctionUrlRecord | None:
        query = _select().where(
            function_urls.c.function_id == function_id, function_urls.c.qualifier == qualifier
        )
        return _first(self.conn, query)

    def by_url_id(self, url_id: str) -> FunctionUrlRecord | None:
        return _first(self.conn, _select().where(function_urls.c.url_id == url_id))

    def list(self, function_id: int, after: str | None, limit: int) -> builtins.list[FunctionUrlRecord]:
        """The function's URL configs ordered by qualifier, those after ``after`` (a qualifier)."""
        query = _select().where(function_urls.c.function_id == function_id)
        if after is not None:
            query = query.where(function_urls.c.qualifier > after)
        query = query.order_by(function_urls.c.qualifier).limit(limit)
        return [_record(r) for r in self.conn.execute(query).mappings()]

    def update(
        self,
        function_id: int,
        qualifier: str,
        auth_type: str,
        cors: dict[str, Any] | None,
        invoke_mode: str,
        now: datetime,
    ) -> None:
        query = update(function_urls).where(
            function_urls.c.function_id == function_id, function_urls.c.qualifier == qualifier
        )
        values = {"auth_type": auth_type, "cors": cors, "invoke_mode": invoke_mode, "updated_at": now}
        self.conn.execute(query.values(**values))

    def delete(self, function_id: int, qualifier: str) -> bool:
        """Remove the config; False when there was none."""
        query = delete(function_urls).where(
            function_urls.c.function_id == function_id, function_urls.c.qualifier == qualifier
        )
        return self.conn.execute(query).rowcount == 1


def _select() -> Any:
    return select(function_urls, functions.c.name.label("function_name")).join(
        functions, functions.c.id == function_urls.c.function_id
    )


def _first(conn: Connection, query: Any) -> FunctionUrlRecord | None:
    row = conn.execute(query).mappings().first()
    return None if row is None else _record(row)


def _record(r: Any) -> FunctionUrlRecord:
    return FunctionUrlRecord(
        function=r["function_name"],
        function_id=int(r["function_id"]),
        qualifier=r["qualifier"],
        url_id=r["url_id"],
        auth_type=r["auth_type"],
        cors=None if r["cors"] is None else dict(r["cors"]),
        invoke_mode=r["invoke_mode"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
    )
