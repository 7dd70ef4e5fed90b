"""Rows of resource-policy statements: one per function, qualifier and statement id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from turnout.store.schema import function_policies


class PolicyRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of(self, function_id: int, qualifier: str) -> dict[str, dict[str, Any]]:
        """statement id -> statement, in the order they were added."""
        query = (
            select(function_policies.c.statement_id, function_policies.c.statement)
            .where(function_policies.c.function_id == function_id, function_policies.c.qualifier == qualifier)
            .order_by(function_policies.c.created_at, function_policies.c.statement_id)
        )
        return {row.statement_id: dict(row.statement) for row in self.conn.execute(query)}

    def add(
        self, function_id: int, qualifier: str, statement_id: str, statement: dict[str, Any], now: datetime
    ) -> None:
        self.conn.execute(
            function_policies.insert().values(
                function_id=function_id,
                qualifier=qualifier,
                statement_id=statement_id,
                statement=statement,
                created_at=now,
            )
        )

    def remove(self, function_id: int, qualifier: str, statement_id: str) -> bool:
        query = delete(function_policies).where(
            function_policies.c.function_id == function_id,
            function_policies.c.qualifier == qualifier,
            function_policies.c.statement_id == statement_id,
        )
        return self.conn.execute(query).rowcount == 1

    def forget(self, function_id: int, qualifier: str) -> None:
        """Remove every statement of the qualifier (its alias or version is being deleted)."""
        self.conn.execute(
            delete(function_policies).where(
                function_policies.c.function_id == function_id, function_policies.c.qualifier == qualifier
            )
        )
