"""The server's side of worker confinement: whether the sandbox is on, and each worker's plan.

``TURNOUT_SANDBOX`` is ``require``, ``auto`` or ``off``; :func:`decide` turns it and what the machine
offers (:func:`turnout.runtime.sandbox.probe`) into a :class:`SandboxStatus`. :class:`Isolation` makes
the plan a worker applies to itself (``turnout/runtime/sandbox.py``): its uid, which folders are masked
and which are put back read-only, what Landlock lets it read. docs/security.md says what it amounts to.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turnout.errors import SandboxUnavailable
from turnout.runtime import sandbox

SCRATCH = "/tmp"  # noqa: S108 - inside a worker: its own tmpfs
# system folders a worker reads (programs it may spawn, shared libraries, /etc for DNS and TLS roots)
SYSTEM_READ = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/proc")


@dataclass(frozen=True)
class SandboxStatus:
    mode: str
    active: bool
    landlock_abi: int = 0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "active": self.active,
            "landlock_abi": self.landlock_abi,
            "reason": self.reason,
        }


def decide(mode: str, probed: tuple[int, str] | None = None) -> SandboxStatus:
    """Whether workers run confined. ``require`` without support raises :class:`SandboxUnavailable`.

    >>> decide("auto", (7, "")).active
    True
    """
    if mode == "off":
        return SandboxStatus(mode, False, reason="turned off (TURNOUT_SANDBOX=off)")
    abi, reason = probed if probed is not None else sandbox.probe()
    if reason and mode == "require":
        raise SandboxUnavailable(
            f"TURNOUT_SANDBOX=require, but workers cannot be sandboxed here: {reason}. "
            "Run the server as root on Linux 5.13+ with Landlock, or set TURNOUT_SANDBOX=auto or off."
        )
    return SandboxStatus(mode, not reason, abi, reason)


def uid_for(function: str, base: int, count: int) -> int:
    """A function's worker uid: the same on every node, from ``[base, base + count)``.

    >>> uid_for("thumbs", 600000, 100000) == uid_for("thumbs", 600000, 100000)
    True
    """
    digest = hashlib.sha256(function.encode()).digest()
    return base + int.from_bytes(digest[:8], "big") % count


class Isolation:
    """Makes each worker's sandbox plan (or none, when the sandbox is off)."""

    def __init__(
        self, status: SandboxStatus, data_dir: Path, uid_base: int, uid_count: int, tmp_mb: int
    ) -> None:
        self.status = status
        self.data_dir = Path(os.path.realpath(data_dir))
        self.uid_base = uid_base
        self.uid_count = uid_count
        self.tmp_mb = tmp_mb

    def __repr__(self) -> str:
        return f"Isolation({self.status.mode}, active={self.status.active})"

    def plan(self, function: str, code_dir: Path, layer_dir: Path | None) -> dict[str, Any] | None:
        """What ``sandbox.apply`` does in this function's workers; None when they run unconfined."""
        if not self.status.active:
            return None
        python = _python_folders()
        version = [os.path.realpath(p) for p in [code_dir, *([layer_dir] if layer_dir else [])]]
        exposed = version + python
        # a virtualenv is bound back whole when hidden (e.g. under /tmp); Landlock still lets the worker
        # read only its pyvenv.cfg and bin/, not the platform's packages
        mounted = exposed + _venv_root()
        masks = _outermost([str(self.data_dir), *[m for m in map(_unsearchable_top, mounted) if m]])
        masks = [m for m in masks if not _under(m, SCRATCH)]
        binds = _outermost([p for p in mounted if any(_under(p, m) for m in [*masks, SCRATCH])])
        return {
            "uid": uid_for(function, self.uid_base, self.uid_count),
            "tmp_mb": self.tmp_mb,
            "masks": masks,
            "binds": binds,
            "base": self._base(masks, binds, version),
            "read": _outermost([*_system_read(), *exposed, *_venv_files()]),
            "cwd": version[0],
        }

    def _base(self, masks: list[str], binds: list[str], version: list[str]) -> dict[str, list[str]]:
        """The masks and binds every worker of this server shares (those that hold no version's code: the
        folders above the Python, the Python itself): the zygote applies them once, to its own mount
        namespace, and each worker's namespace starts as a copy of it (``sandbox.enter_base``)."""
        mine = [str(self.data_dir), *version]
        shared = [m for m in masks if not any(_under(path, m) for path in mine)]
        return {"masks": shared, "binds": [b for b in binds if any(_under(b, m) for m in shared)]}


@functools.cache
def _system_read() -> tuple[str, ...]:
    """``SYSTEM_READ`` as the kernel resolves it: ``/bin`` is ``/usr/bin`` on a merged-/usr system, so its
    rule is already the ``/usr`` one (one Landlock rule fewer per worker for each such link)."""
    return tuple(os.path.realpath(path) for path in SYSTEM_READ if os.path.lexists(path))


@functools.cache
def _python_folders() -> list[str]:
    """The interpreter's prefix (standard library, lib-dynload, its executable)."""
    return sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)})


@functools.cache
def _venv_root() -> list[str]:
    """The virtualenv the server runs in, if any (its interpreter is what workers start subprocesses with)."""
    return [] if sys.prefix == sys.base_prefix else [os.path.realpath(sys.prefix)]


@functools.cache
def _venv_files() -> list[str]:
    """A virtualenv's ``pyvenv.cfg`` and ``bin``: what the interpreter reads to start (not its packages)."""
    if sys.prefix == sys.base_prefix:
        return []
    return [os.path.join(sys.prefix, "pyvenv.cfg"), os.path.join(sys.prefix, "bin")]


def _unsearchable_top(path: str) -> str | None:
    """The highest folder above ``path`` that others may not search (so a worker uid could not reach it)."""
    return _unsearchable_from(os.path.dirname(path))


@functools.cache
def _unsearchable_from(parent: str) -> str | None:
    """``_unsearchable_top`` of anything directly in ``parent``: the folders above a version's code are the
    same for every version, so they are looked at once per server (a cold start does not stat them)."""
    found = None
    parts = Path(parent).parts
    for depth in range(2, len(parts) + 1):
        folder = os.path.join(*parts[:depth])
        try:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                found = folder
                break
        except OSError:
            break
    return found


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without those inside another one of them, sorted (by their parts, so that what lies
    inside a folder comes right after it: one pass, as this runs for every new worker)."""
    kept: list[str] = []
    for path in sorted(set(paths), key=lambda p: p.split("/")):
        if not kept or not _under(path, kept[-1]):
            kept.append(path)
    return sorted(kept)
