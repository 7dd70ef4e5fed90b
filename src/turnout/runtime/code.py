"""Bundles unpacked once per node into ``code/<sha256>/``: verified, then sealed read-only.

A version's code never changes on disk: the blob is checked against its sha256 before it is unpacked,
and the unpacked tree is made read-only (files 0444, folders 0555, owned by the server) before it is
renamed into place; sandboxed workers (another uid) also see it through a read-only bind mount.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from turnout.blobs import BlobStore
from turnout.errors import BlobCorrupted


class CodeCache:
    def __init__(self, root: Path, blobs: BlobStore) -> None:
        self.root = root
        self.blobs = blobs
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # workers of other uids reach their own version's folder (and list none)

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
            data = self.blobs.get(sha256)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise BlobCorrupted(f"bundle {sha256} does not match its sha256; it was not unpacked")
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root))
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(staging)
                seal(staging)
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return target


def seal(root: Path) -> None:
    """Make a tree read-only and readable by all: files 0444 (0555 if executable), folders 0555."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, 0o555 if mode & 0o111 else 0o444)
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o555)
    os.chmod(root, 0o555)
