"""A worker process as the gateway sees it: one invocation at a time over a stream socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from turnout.runtime.bootstrap import FRAME, encode


@dataclass
class Reply:
    header: dict[str, Any]
    payload: bytes = b""

    @property
    def ok(self) -> bool:
        return self.header.get("kind") in ("result", "ready")


class WorkerDied(RuntimeError):
    """The worker's socket closed mid-conversation: it crashed or was killed."""


@dataclass(eq=False)
class Worker:
    pid: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    cold: bool = True
    init_ms: float = 0.0
    modules: list[str] = field(default_factory=list)
    init_logs: str = ""  # what the function printed while it was imported; shown with its first invocation
    last_used: float = field(default_factory=time.monotonic)
    invocations: int = 0
    reaper: Any = None

    def __repr__(self) -> str:
        return f"Worker(pid={self.pid}, invocations={self.invocations})"

    @classmethod
    async def attach(cls, pid: int, sock: socket.socket, reaper: Any = None) -> Worker:
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=2**26)
        return cls(pid, reader, writer, reaper=reaper)

    @property
    def dead(self) -> bool:
        """The worker's end of the socket closed (it exited or was killed while idle)."""
        return self.reader.at_eof() or self.writer.is_closing()

    async def wait_ready(self, timeout: float) -> Reply:
        async with asyncio.timeout(timeout):
            reply = await self._read()
        if reply.header.get("kind") == "ready":
            self.init_ms = float(reply.header.get("init_ms", 0.0))
            self.modules = list(reply.header.get("modules", []))
            self.init_logs = str(reply.header.get("logs", ""))
        return reply

    async def invoke(self, header: dict[str, Any], payload: bytes, timeout: float) -> Reply:
        """Send one event and wait for its answer; raises TimeoutError or WorkerDied."""
        try:
            self.writer.write(encode(header, payload))
            await self.writer.drain()
        except ConnectionError as exc:
            raise WorkerDied(f"worker {self.pid} died") from exc
        async with asyncio.timeout(timeout):  # not wait_for: no Task per invocation
            reply = await self._read()
        self.invocations += 1
        self.last_used = time.monotonic()
        return reply

    async def _read(self) -> Reply:
        try:
            head = await self.reader.readexactly(FRAME.size)
            header_len, payload_len = FRAME.unpack(head)
            body = await self.reader.readexactly(header_len + payload_len)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise WorkerDied(f"worker {self.pid} died") from exc
        return Reply(json.loads(body[:header_len]), body[header_len:])

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.writer.close()
        if self.reaper is not None:
            self.reaper()
