"""Rows of functions and their drafts."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from turnout.domain.config import FunctionConfig
from turnout.domain.function import Function
from turnout.store.rows import utc
from turnout.store.schema import functions


class FunctionRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, name: str, lock: bool = False) -> Function | None:
        """The function named ``name``; ``lock`` holds its row until the transaction ends."""
        query = select(functions).where(functions.c.name == name)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _function(row)

    def list(self, after: str | None, limit: int) -> builtins.list[Function]:
        query = select(functions).order_by(functions.c.name).limit(limit)
        if after:
            query = query.where(functions.c.name > after)
        return [_function(r) for r in self.conn.execute(query).mappings()]

    def names(self) -> builtins.list[str]:
        return list(self.conn.execute(select(functions.c.name).order_by(functions.c.name)).scalars())

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(functions)).scalar_one())

    def insert(
        self,
        name: str,
        config: FunctionConfig,
        bundle_sha256: str,
        dependencies: tuple[str, ...],
        revision_id: str,
        now: datetime,
    ) -> Function:
        values = {
            "name": name,
            "bundle_sha256": bundle_sha256,
            "config": config.to_json(),
            "dependencies": list(dependencies),
            "revision_id": revision_id,
            "last_version": 0,
            "created_at": now,
            "updated_at": now,
        }
        new_id = self.conn.execute(functions.insert().values(**values)).inserted_primary_key[0]  # type: ignore[index]
        return _function({"id": new_id, **values})

    def update_draft(
        self,
        function_id: int,
        config: FunctionConfig,
        bundle_sha256: str,
        dependencies: tuple[str, ...],
        revision_id: str,
        now: datetime,
    ) -> None:
        self.conn.execute(
            functions.update()
            .where(functions.c.id == function_id)
            .values(
                config=config.to_json(),
                bundle_sha256=bundle_sha256,
                dependencies=list(dependencies),
                revision_id=revision_id,
                updated_at=now,
            )
        )

    def set_last_version(self, function_id: int, number: int) -> None:
        self.conn.execute(functions.update().where(functions.c.id == function_id).values(last_version=number))

    def set_reserved_concurrency(self, function_id: int, limit: int | None, now: datetime) -> None:
        query = functions.update().where(functions.c.id == function_id)
        self.conn.execute(query.values(reserved_concurrency=limit, updated_at=now))

    def delete(self, function_id: int) -> None:
        self.conn.execute(delete(functions).where(functions.c.id == function_id))


def _function(row: Mapping[Any, Any]) -> Function:
    return Function(
        id=row["id"],
        name=row["name"],
        config=FunctionConfig.from_json(row["config"]),
        bundle_sha256=row["bundle_sha256"],
        dependencies=tuple(row["dependencies"]),
        revision_id=row["revision_id"],
        last_version=row["last_version"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        reserved_concurrency=row.get("reserved_concurrency"),
    )
