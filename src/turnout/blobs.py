"""Content-addressed blob store: bundles kept once by sha256, verified whenever read."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from turnout.errors import BlobCorrupted, BundleNotFound


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...
    def get(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None: ...
    def list(self) -> Iterator[tuple[str, float]]: ...


class FileBlobStore:
    """Blobs as files ``root/ab/abcdef…``; written to a temp file, fsynced, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / check_sha256(sha256)

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._path(sha256)
        if path.exists():
            return sha256
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return sha256

    def get(self, sha256: str) -> bytes:
        """The blob's bytes, or ``BlobCorrupted`` if they no longer hash to ``sha256``."""
        path = self._path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise BundleNotFound(f"bundle {sha256} is not in the blob store") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise BlobCorrupted(
                f"bundle {sha256} is corrupted on disk (its content hashes to {actual}); "
                "it will not be served — redeploy the code to restore it",
                sha256=sha256,
            )
        return data

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def list(self) -> Iterator[tuple[str, float]]:
        """(sha256, age in seconds) of every stored blob."""
        now = time.time()
        for path in self.root.glob("??/*"):
            if not path.name.startswith(".tmp-"):
                yield path.name, now - path.stat().st_mtime


def check_sha256(sha256: str) -> str:
    """``sha256`` itself if it is a lowercase hex sha256 digest, else ``BundleNotFound``."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise BundleNotFound(f"{sha256!r} is not a sha256 hex digest")
    return sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
