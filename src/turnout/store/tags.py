"""Rows of function tags: key and value per function."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, select

from turnout.store.schema import function_tags


class TagRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of(self, function_id: int) -> dict[str, str]:
        query = select(function_tags.c.key, function_tags.c.value).where(
            function_tags.c.function_id == function_id
        )
        return {row.key: row.value for row in self.conn.execute(query)}

    def put(self, function_id: int, tags: Mapping[str, str]) -> None:
        """Add the tags, replacing the values of keys already there."""
        self.remove(function_id, tags.keys())
        if tags:
            self.conn.execute(
                function_tags.insert(),
                [{"function_id": function_id, "key": k, "value": v} for k, v in tags.items()],
            )

    def remove(self, function_id: int, keys: Iterable[str]) -> None:
        wanted = list(keys)
        if wanted:
            self.conn.execute(
                delete(function_tags).where(
                    function_tags.c.function_id == function_id, function_tags.c.key.in_(wanted)
                )
            )
