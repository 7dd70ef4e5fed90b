"""Bundles kept in PostgreSQL, so every node of a cluster can run code deployed through any other.

:class:`PostgresBlobStore` implements :class:`turnout.blobs.BlobStore` on the ``blobs`` and
``blob_chunks`` tables (through ``tx.blobs``, :mod:`turnout.store.blob_rows`), with a node-local cache: a
:class:`FileBlobStore` under ``DATA_DIR/blobs``, filled on put and on first read, and asked before the
store. A cached blob is served without touching PostgreSQL, so the data plane keeps running while the
database is down. Every read is verified by sha256, from the cache and from the store alike.

:meth:`PostgresBlobStore.copy_local_bundles` is the upgrade step of a single-node PostgreSQL install:
bundles it kept only in ``DATA_DIR/blobs`` are copied into the store on start (docs/cluster.md, "Bundles").
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

from turnout.blobs import FileBlobStore, check_sha256
from turnout.clock import Clock, utc_now
from turnout.errors import BlobCorrupted, BundleNotFound
from turnout.store import Store

log = logging.getLogger("turnout.cluster.blobs")


class PostgresBlobStore:
    """Blobs in the store (the truth, shared by every node), cached on this node's disk."""

    def __init__(self, store: Store, cache: FileBlobStore, clock: Clock = utc_now) -> None:
        self.store, self.cache, self.clock = store, cache, clock

    def __repr__(self) -> str:
        return f"PostgresBlobStore({self.store!r}, cache={self.cache!r})"

    def put(self, data: bytes) -> str:
        """Keep ``data`` in the store (once: a second put of the same bytes writes nothing), then cache it."""
        sha256 = hashlib.sha256(data).hexdigest()
        self._store_put(sha256, data)
        self.cache.put(data)
        return sha256

    def get(self, sha256: str) -> bytes:
        """The verified bytes: from the cache if it holds them, else from the store (then cached).

        A cached copy that no longer matches its hash is dropped and read again from the store; bytes
        from the store that do not match are ``BlobCorrupted`` and never served nor cached.
        """
        try:
            return self.cache.get(sha256)
        except BundleNotFound:
            pass
        except BlobCorrupted:
            log.warning("cached bundle %s is corrupted; reading it again from the store", sha256)
            self.cache.delete(sha256)
        data = self._fetch(sha256)
        self.cache.put(data)
        return data

    def exists(self, sha256: str) -> bool:
        if self.cache.exists(sha256):
            return True
        with self.store.read() as tx:
            return tx.blobs.has(sha256)

    def delete(self, sha256: str) -> None:
        """Remove the blob from the store, then from this node's cache."""
        check_sha256(sha256)
        with self.store.write() as tx:
            tx.blobs.delete(sha256)
        self.cache.delete(sha256)

    def list(self) -> Iterator[tuple[str, float]]:
        """(sha256, age in seconds since it was first stored) of every blob the store holds."""
        with self.store.read() as tx:
            created = tx.blobs.created()
        now = self.clock()
        for sha256, at in created:
            yield sha256, (now - at).total_seconds()

    def copy_local_bundles(self) -> tuple[str, ...]:
        """Copy into the store each bundle that the ``bundles`` table names, the store lacks and the
        local cache holds intact (a single-node install's ``DATA_DIR/blobs``); the copied sha256s."""
        with self.store.read() as tx:
            missing = tx.blobs.missing(tx.bundles.all_shas())
        copied = tuple(sha for sha in sorted(missing) if self._copy_local(sha))
        if copied:
            log.info(
                "copied %d bundle(s) from %s into the store: %s",
                len(copied),
                self.cache.root,
                ", ".join(copied),
            )
        return copied

    def _copy_local(self, sha256: str) -> bool:
        try:
            data = self.cache.get(sha256)
        except BundleNotFound:
            log.warning("bundle %s is neither in the store nor in %s: redeploy it", sha256, self.cache.root)
            return False
        except BlobCorrupted:
            log.warning("bundle %s in %s is corrupted; not copied into the store", sha256, self.cache.root)
            return False
        self._store_put(sha256, data)
        return True

    def _store_put(self, sha256: str, data: bytes) -> None:
        with self.store.write() as tx:
            tx.blobs.add(sha256, data, self.clock())

    def _fetch(self, sha256: str) -> bytes:
        check_sha256(sha256)
        with self.store.read() as tx:
            data = tx.blobs.read(sha256)
        if data is None:
            raise BundleNotFound(f"bundle {sha256} is not in the blob store")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise BlobCorrupted(
                f"bundle {sha256} is corrupted in the store (its content hashes to {actual}); "
                "it will not be served — redeploy the code to restore it",
                sha256=sha256,
            )
        return data
