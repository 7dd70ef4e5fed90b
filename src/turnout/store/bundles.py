"""Rows of uploaded bundles: their manifest (file hashes, sizes, dependencies)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, union
from sqlalchemy.dialects import postgresql, sqlite

from turnout.build.bundle import Manifest
from turnout.store.schema import bundles, functions, versions


class BundleRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, manifest: Manifest, now: datetime) -> None:
        """Record a manifest once; a second upload of the same bytes changes nothing."""
        values = {
            "sha256": manifest.sha256,
            "zipped_bytes": manifest.zipped_bytes,
            "unpacked_bytes": manifest.unpacked_bytes,
            "files": manifest.files,
            "dependencies": list(manifest.dependencies),
            "uploaded_at": now,
        }
        insert = (postgresql if self.conn.dialect.name == "postgresql" else sqlite).insert
        self.conn.execute(insert(bundles).values(**values).on_conflict_do_nothing())

    def touch(self, sha256: str, now: datetime) -> None:
        self.conn.execute(bundles.update().where(bundles.c.sha256 == sha256).values(uploaded_at=now))

    def get(self, sha256: str) -> Manifest | None:
        row = self.conn.execute(select(bundles).where(bundles.c.sha256 == sha256)).mappings().first()
        if row is None:
            return None
        return Manifest(
            sha256=row["sha256"],
            zipped_bytes=row["zipped_bytes"],
            unpacked_bytes=row["unpacked_bytes"],
            files=dict(row["files"]),
            dependencies=tuple(row["dependencies"]),
        )

    def referenced(self) -> set[str]:
        """Every bundle a draft or a version uses."""
        query = union(select(functions.c.bundle_sha256), select(versions.c.bundle_sha256))
        return set(self.conn.execute(query).scalars())

    def unreferenced_before(self, cutoff: datetime) -> list[str]:
        used = self.referenced()
        rows = self.conn.execute(select(bundles.c.sha256, bundles.c.uploaded_at)).mappings().all()
        return sorted(
            r["sha256"] for r in rows if r["sha256"] not in used and _naive(r["uploaded_at"]) < _naive(cutoff)
        )

    def all_shas(self) -> set[str]:
        return set(self.conn.execute(select(bundles.c.sha256)).scalars())

    def delete(self, shas: list[str]) -> None:
        if shas:
            self.conn.execute(delete(bundles).where(bundles.c.sha256.in_(shas)))


def _naive(value: datetime) -> datetime:
    """Naive UTC. SQLite returns naive UTC; PostgreSQL returns aware times in the session's time zone."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
