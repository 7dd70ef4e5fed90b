"""Rows of immutable versions. There is no update: a version row is written once."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, select

from turnout.domain.config import FunctionConfig
from turnout.domain.function import Version
from turnout.store.rows import utc
from turnout.store.schema import versions


class VersionRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, function_id: int, number: int) -> Version | None:
        query = select(versions).where(versions.c.function_id == function_id, versions.c.number == number)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _version(row)

    def latest(self, function_id: int) -> Version | None:
        query = (
            select(versions)
            .where(versions.c.function_id == function_id)
            .order_by(versions.c.number.desc())
            .limit(1)
        )
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _version(row)

    def list(
        self, function_id: int, after: int | None = None, limit: int | None = None
    ) -> builtins.list[Version]:
        query = select(versions).where(versions.c.function_id == function_id).order_by(versions.c.number)
        if after is not None:
            query = query.where(versions.c.number > after)
        if limit is not None:
            query = query.limit(limit)
        return [_version(r) for r in self.conn.execute(query).mappings()]

    def existing(self, function_id: int, numbers: Iterable[int]) -> set[int]:
        """Which of ``numbers`` exist, in one query."""
        query = select(versions.c.number).where(
            versions.c.function_id == function_id, versions.c.number.in_(list(numbers))
        )
        return set(self.conn.execute(query).scalars())

    def numbers(self, function_id: int) -> builtins.list[int]:
        query = select(versions.c.number).where(versions.c.function_id == function_id)
        return sorted(self.conn.execute(query).scalars())

    def count(self, function_id: int) -> int:
        query = select(func.count()).select_from(versions).where(versions.c.function_id == function_id)
        return int(self.conn.execute(query).scalar_one())

    def insert(self, version: Version) -> None:
        self.conn.execute(
            versions.insert().values(
                function_id=version.function_id,
                number=version.number,
                bundle_sha256=version.bundle_sha256,
                config=version.config.to_json(),
                dependencies=list(version.dependencies),
                fingerprint=version.fingerprint,
                description=version.description,
                revision_id=version.revision_id,
                created_at=version.created_at,
                pinned_dependencies=list(version.pinned_dependencies),
                layer_hash=version.layer_hash,
            )
        )

    def layer_hashes(self) -> set[str]:
        """Every layer some version of any function runs with."""
        query = select(versions.c.layer_hash).where(versions.c.layer_hash.is_not(None)).distinct()
        keys: list[str | None] = list(self.conn.execute(query).scalars())
        return {key for key in keys if key is not None}

    def delete(self, function_id: int, numbers: builtins.list[int]) -> None:
        if numbers:
            self.conn.execute(
                delete(versions).where(versions.c.function_id == function_id, versions.c.number.in_(numbers))
            )


def _version(row: Mapping[Any, Any]) -> Version:
    return Version(
        function_id=row["function_id"],
        number=row["number"],
        bundle_sha256=row["bundle_sha256"],
        config=FunctionConfig.from_json(row["config"]),
        dependencies=tuple(row["dependencies"]),
        fingerprint=row["fingerprint"],
        description=row["description"],
        revision_id=row["revision_id"],
        created_at=utc(row["created_at"]),
        pinned_dependencies=tuple(row["pinned_dependencies"]),
        layer_hash=row["layer_hash"],
    )
