"""Rows of the keyring (the check value) and raw access to every column that holds sealed secrets.

Re-sealing (at start for plain values left by an upgrade, and on key rotation) works on the stored JSON
itself: it changes sealed values only, never what a version means.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from turnout.store.schema import aliases, functions, keyring, versions

KEYRING_ID = 1


@dataclass(frozen=True)
class KeyringRow:
    check_value: str
    created_at: datetime
    rotated_at: datetime | None


@dataclass(frozen=True)
class StoredEnvironment:
    """One stored environment: a draft's, a version's or an alias's settings, and where it lives."""

    table: str  # "functions", "versions" or "aliases"
    key: tuple[Any, ...]  # the row's primary key
    environment: Mapping[str, str]
    declared: frozenset[str] = frozenset()  # an alias's secret_keys
    config: Mapping[str, Any] | None = None  # the whole config JSON of a draft or version
    row: Mapping[str, Any] | None = None  # a version's bundle and dependencies (for its fingerprint)


class KeyringRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, lock: bool = False) -> KeyringRow | None:
        query = select(keyring).where(keyring.c.id == KEYRING_ID)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None:
            return None
        return KeyringRow(row["check_value"], row["created_at"], row["rotated_at"])

    def create(self, check_value: str, now: datetime) -> None:
        self.conn.execute(keyring.insert().values(id=KEYRING_ID, check_value=check_value, created_at=now))

    def set_check(self, check_value: str, now: datetime) -> None:
        query = keyring.update().where(keyring.c.id == KEYRING_ID)
        self.conn.execute(query.values(check_value=check_value, rotated_at=now))

    def environments(self) -> list[StoredEnvironment]:
        """Every stored environment: drafts, versions, alias settings (read in full before any change)."""
        return list(self._environments())

    def _environments(self) -> Iterator[StoredEnvironment]:
        for row in self.conn.execute(select(functions.c.id, functions.c.config)).mappings():
            config = row["config"]
            yield StoredEnvironment("functions", (row["id"],), config.get("environment", {}), config=config)
        columns = (versions.c.function_id, versions.c.number, versions.c.config)
        extra = (versions.c.bundle_sha256, versions.c.dependencies)
        for row in self.conn.execute(select(*columns, *extra)).mappings():
            config = row["config"]
            key = (row["function_id"], row["number"])
            yield StoredEnvironment(
                "versions", key, config.get("environment", {}), config=config, row=dict(row)
            )
        names = (aliases.c.function_id, aliases.c.name, aliases.c.settings, aliases.c.secret_keys)
        for row in self.conn.execute(select(*names)).mappings():
            key = (row["function_id"], row["name"])
            yield StoredEnvironment("aliases", key, row["settings"], frozenset(row["secret_keys"]))

    def replace(self, stored: StoredEnvironment, environment: Mapping[str, str], **extra: Any) -> None:
        """Store ``environment`` in place of ``stored``'s (``extra``: other columns, e.g. fingerprint)."""
        if stored.table == "aliases":
            query = aliases.update().where(
                aliases.c.function_id == stored.key[0], aliases.c.name == stored.key[1]
            )
            self.conn.execute(query.values(settings=dict(environment)))
            return
        config = {**(stored.config or {}), "environment": dict(environment)}
        if stored.table == "functions":
            self.conn.execute(functions.update().where(functions.c.id == stored.key[0]).values(config=config))
            return
        query = versions.update().where(
            versions.c.function_id == stored.key[0], versions.c.number == stored.key[1]
        )
        self.conn.execute(query.values(config=config, **extra))
