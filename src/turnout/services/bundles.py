"""Uploading bundles: validate, store the bytes by sha256, record the manifest."""

from __future__ import annotations

from turnout.blobs import BlobStore
from turnout.build.bundle import BundleLimits, Manifest, inspect_bundle
from turnout.clock import Clock
from turnout.errors import BundleNotFound
from turnout.store import Store


class BundleService:
    def __init__(self, store: Store, blobs: BlobStore, limits: BundleLimits, clock: Clock) -> None:
        self.store, self.blobs, self.limits, self.clock = store, blobs, limits, clock

    def upload(self, data: bytes) -> Manifest:
        """Validate and keep a zip. Uploading the same bytes twice stores them once."""
        manifest = inspect_bundle(data, self.limits)
        self.blobs.put(data)
        now = self.clock()
        with self.store.write() as tx:
            tx.bundles.add(manifest, now)
            tx.bundles.touch(manifest.sha256, now)
        return manifest

    def manifest(self, sha256: str) -> Manifest:
        with self.store.read() as tx:
            found = tx.bundles.get(sha256)
        if found is None:
            raise BundleNotFound(f"no bundle {sha256}: upload it with POST /v1/bundles first")
        return found

    def read(self, sha256: str) -> bytes:
        """The bundle's bytes, verified against its sha256 (``BlobCorrupted`` if tampered with)."""
        return self.blobs.get(sha256)
