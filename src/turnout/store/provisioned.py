"""Rows of provisioned concurrency: warm workers per alias or version qualifier."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from turnout.store.schema import functions, provisioned


class ProvisionedRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of(self, function_id: int) -> dict[str, int]:
        query = select(provisioned.c.qualifier, provisioned.c.workers).where(
            provisioned.c.function_id == function_id
        )
        return {row.qualifier: int(row.workers) for row in self.conn.execute(query)}

    def put(self, function_id: int, qualifier: str, workers: int, now: datetime) -> None:
        self.remove(function_id, qualifier)
        self.conn.execute(
            provisioned.insert().values(
                function_id=function_id, qualifier=qualifier, workers=workers, updated_at=now
            )
        )

    def remove(self, function_id: int, qualifier: str) -> None:
        self.conn.execute(
            delete(provisioned).where(
                provisioned.c.function_id == function_id, provisioned.c.qualifier == qualifier
            )
        )

    def function_names(self) -> list[str]:
        """Functions that have any provisioned concurrency (warmed at server start)."""
        query = (
            select(functions.c.name)
            .join(provisioned, provisioned.c.function_id == functions.c.id)
            .distinct()
            .order_by(functions.c.name)
        )
        return list(self.conn.execute(query).scalars())
