"""Bundles unpacked once per node into ``code/<sha256>/``, from a verified blob read."""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from turnout.blobs import BlobStore


class CodeCache:
    def __init__(self, root: Path, blobs: BlobStore) -> None:
        self.root = root
        self.blobs = blobs
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"CodeCache({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        """The unpacked bundle's folder, unpacking it first if this node has not yet."""
        target = self.root / sha256
        if target.is_dir():
            return target
        with self._lock:
            if target.is_dir():
                return target
            data = self.blobs.get(sha256)  # verified against its sha256
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root))
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(staging)
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return target
