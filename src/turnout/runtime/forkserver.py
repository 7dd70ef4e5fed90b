"""Clients of the fork servers in ``bootstrap.py``: the zygote and per-version templates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class ForkServer:
    """One fork server we can ask for a new worker (or template); requests are serialised."""

    def __init__(
        self, control: socket.socket, pid: int, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        self.control = control
        self.pid = pid
        self.process = process
        self._lock = asyncio.Lock()
        control.setblocking(False)

    def __repr__(self) -> str:
        return f"ForkServer(pid={self.pid})"

    @property
    def alive(self) -> bool:
        return self.control.fileno() != -1

    async def fork(
        self, op: str, spec: dict[str, Any], preload: list[str] | None = None
    ) -> tuple[int, socket.socket]:
        """Fork a ``worker`` or a ``template``; returns its pid and our end of its socket."""
        kind = socket.SOCK_STREAM if op == "worker" else socket.SOCK_SEQPACKET
        ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
        request = json.dumps({"op": op, "spec": spec, "preload": preload or []}).encode()
        loop = asyncio.get_running_loop()
        try:
            async with self._lock:
                await loop.run_in_executor(None, _send_with_fd, self.control, request, theirs.fileno())
                reply = await loop.sock_recv(self.control, 4096)
        except OSError as exc:
            ours.close()
            self.close()
            raise ForkServerGone(f"fork server {self.pid} is gone: {exc}") from exc
        finally:
            theirs.close()
        if not reply:
            ours.close()
            self.close()
            raise ForkServerGone(f"fork server {self.pid} closed its control socket")
        return int(json.loads(reply)["pid"]), ours

    def close(self) -> None:
        if self.control.fileno() != -1:
            self.control.close()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 9)
        self.close()


class ForkServerGone(RuntimeError):
    pass


def _send_with_fd(control: socket.socket, message: bytes, fd: int) -> None:
    control.setblocking(True)
    try:
        socket.send_fds(control, [message], [fd])
    finally:
        control.setblocking(False)


def start_zygote() -> ForkServer:
    """Start the zygote: a fresh ``python -I -S bootstrap.py zygote`` that has loaded only the runtime."""
    process, ours = _run_bootstrap("zygote", socket.SOCK_SEQPACKET)
    log.info("zygote started (pid %d)", process.pid)
    return ForkServer(ours, process.pid, process)


def spawn_worker(spec: dict[str, Any]) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """The fallback: a fresh interpreter per worker (slower, needs no zygote)."""
    from turnout.runtime.bootstrap import encode

    process, ours = _run_bootstrap("worker", socket.SOCK_STREAM)
    ours.sendall(encode({"spec": spec}))
    return process, ours


def _run_bootstrap(role: str, kind: socket.SocketKind) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """``python -I -S bootstrap.py ROLE FD``: isolated from the platform, talking over a socket pair."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", str(BOOTSTRAP), role, str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        env=WORKER_ENV,
        stdin=subprocess.DEVNULL,
    )
    theirs.close()
    return process, ours
