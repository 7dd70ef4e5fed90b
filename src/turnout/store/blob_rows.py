"""Rows of blobs kept in the store (cluster mode): a ``blobs`` row per complete blob, its bytes in
``blob_chunks`` rows of at most :data:`CHUNK_BYTES`, in order.

A ``blobs`` row and its chunks are written in the caller's one transaction, so another node sees either
the whole blob or nothing. These rows never check content hashes: the blob store above them does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from turnout.store.rows import utc
from turnout.store.schema import blob_chunks, blobs

CHUNK_BYTES = 1 << 20  # 1 MiB a chunk row


def split(data: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    """``data`` cut into pieces of at most ``size`` bytes; one (empty) piece for empty data.

    >>> split(b"abcde", 2)
    [b'ab', b'cd', b'e']
    """
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


class BlobRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, sha256: str, data: bytes, now: datetime) -> bool:
        """Write the blob once: False (and nothing written) when a row for ``sha256`` already exists.

        Two nodes adding the same blob at once: the second waits on the first's key, then writes nothing.
        """
        chunks = max(1, -(-len(data) // CHUNK_BYTES))  # what split() makes, without copying the bytes yet
        row = {"sha256": sha256, "size": len(data), "chunks": chunks, "created_at": now}
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        added = self.conn.execute(
            dialect.insert(blobs).values(**row).on_conflict_do_nothing().returning(blobs.c.sha256)
        ).first()
        if added is None:
            return False
        self.conn.execute(
            insert(blob_chunks),
            [{"sha256": sha256, "seq": seq, "data": piece} for seq, piece in enumerate(split(data))],
        )
        return True

    def read(self, sha256: str) -> bytes | None:
        """The blob's bytes as stored (unverified), or None when no row names it.

        Missing chunk rows or a size that does not add up show as bytes that fail the caller's hash check.
        """
        if not self.has(sha256):
            return None
        query = select(blob_chunks.c.data).where(blob_chunks.c.sha256 == sha256).order_by(blob_chunks.c.seq)
        pieces: list[bytes] = list(self.conn.execute(query).scalars())
        return b"".join(bytes(piece) for piece in pieces)

    def has(self, sha256: str) -> bool:
        return self.conn.execute(select(blobs.c.sha256).where(blobs.c.sha256 == sha256)).first() is not None

    def missing(self, shas: Iterable[str]) -> set[str]:
        """Those of ``shas`` that no row names."""
        wanted = set(shas)
        if not wanted:
            return set()
        held: set[str] = set(
            self.conn.execute(select(blobs.c.sha256).where(blobs.c.sha256.in_(wanted))).scalars()
        )
        return wanted - held

    def created(self) -> list[tuple[str, datetime]]:
        """(sha256, when written) of every stored blob, oldest first."""
        query = select(blobs.c.sha256, blobs.c.created_at).order_by(blobs.c.created_at)
        return [(row.sha256, utc(row.created_at)) for row in self.conn.execute(query)]

    def delete(self, sha256: str) -> None:
        """Remove the blob: its chunks first, then its row (no reliance on the cascade)."""
        self.conn.execute(delete(blob_chunks).where(blob_chunks.c.sha256 == sha256))
        self.conn.execute(delete(blobs).where(blobs.c.sha256 == sha256))
