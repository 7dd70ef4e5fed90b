"""Rows of async invocation configs: destinations and retry limits per function qualifier."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from turnout.domain.destination import EventConfig
from turnout.store.rows import utc
from turnout.store.schema import event_configs


class EventConfigRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of(self, function_id: int) -> dict[str, EventConfig]:
        """qualifier -> its config, for one function."""
        query = select(event_configs).where(event_configs.c.function_id == function_id)
        return {
            row["qualifier"]: EventConfig(
                qualifier=row["qualifier"],
                on_success=row["on_success"],
                on_failure=row["on_failure"],
                max_retries=row["max_retries"],
                max_age_s=row["max_age_s"],
                updated_at=utc(row["updated_at"]),
            )
            for row in self.conn.execute(query).mappings()
        }

    def put(self, function_id: int, config: EventConfig, now: datetime) -> None:
        self.remove(function_id, config.qualifier)
        self.conn.execute(
            event_configs.insert().values(
                function_id=function_id,
                qualifier=config.qualifier,
                on_success=config.on_success,
                on_failure=config.on_failure,
                max_retries=config.max_retries,
                max_age_s=config.max_age_s,
                updated_at=now,
            )
        )

    def remove(self, function_id: int, qualifier: str) -> bool:
        query = delete(event_configs).where(
            event_configs.c.function_id == function_id, event_configs.c.qualifier == qualifier
        )
        return self.conn.execute(query).rowcount == 1
