"""A worker process as the gateway sees it: one invocation at a time over a stream socket.

The socket is driven by an :class:`asyncio.Protocol` (:class:`_Channel`), not streams: a reply frame
that arrives whole (the usual case) is parsed in ``data_received`` and handed to the waiting invocation
without a reader coroutine, a second buffer copy or a drain — this hop is the hot path of every invoke.
"""

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

from turnout.runtime.bootstrap import FRAME, invoke_frame


@dataclass
class Reply:
    header: dict[str, Any]
    payload: bytes = b""

    @property
    def ok(self) -> bool:
        return self.header.get("kind") in ("result", "ready")


class WorkerDied(RuntimeError):
    """The worker's socket closed mid-conversation: it crashed or was killed."""


class _Channel(asyncio.Protocol):
    """Frames in from one worker's socket; each complete frame settles the one waiting future."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Reply] | None = None
        self.frames: list[Reply] = []  # frames that came with nobody waiting (never in normal use)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            self.buffer += data
            data = bytes(self.buffer)
            self.buffer.clear()
        offset, size = 0, len(data)
        while size - offset >= FRAME.size:
            header_len, payload_len = FRAME.unpack_from(data, offset)
            start = offset + FRAME.size
            end = start + header_len + payload_len
            if end > size:
                break
            self._deliver(Reply(json.loads(data[start : start + header_len]), data[start + header_len : end]))
            offset = end
        if offset < size:
            self.buffer += data[offset:]

    def _deliver(self, reply: Reply) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            self.frames.append(reply)
        else:
            waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(WorkerDied(f"worker {self.pid} died"))

    def next_reply(self) -> asyncio.Future[Reply]:
        """A future for the next frame (one already received settles it at once)."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        if self.frames:
            future.set_result(self.frames.pop(0))
        elif self.closed:
            future.set_exception(WorkerDied(f"worker {self.pid} died"))
        else:
            self.waiter = future
        return future


def _expire(future: asyncio.Future[Reply]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


@dataclass(eq=False)
class Worker:
    pid: int
    channel: _Channel
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
        loop = asyncio.get_running_loop()
        _, channel = await loop.create_unix_connection(lambda: _Channel(pid), sock=sock)
        return cls(pid, channel, reaper=reaper)

    @property
    def dead(self) -> bool:
        """The worker's end of the socket closed (it exited or was killed while idle)."""
        transport = self.channel.transport
        return self.channel.closed or transport is None or transport.is_closing()

    async def wait_ready(self, timeout: float) -> Reply:
        reply = await self._reply(timeout)
        if reply.header.get("kind") == "ready":
            self.init_ms = float(reply.header.get("init_ms", 0.0))
            self.modules = list(reply.header.get("modules", []))
            self.init_logs = str(reply.header.get("logs", ""))
        return reply

    async def invoke(
        self, request_id: str, deadline: float, invoked_arn: str, payload: bytes, timeout: float
    ) -> Reply:
        """Send one event (``deadline`` in epoch seconds) and wait for its answer; raises TimeoutError
        or WorkerDied."""
        transport = self.channel.transport
        if self.dead or transport is None:
            raise WorkerDied(f"worker {self.pid} died")
        transport.write(invoke_frame(request_id, deadline * 1000.0, invoked_arn, payload))
        reply = await self._reply(timeout)
        self.invocations += 1
        self.last_used = time.monotonic()
        return reply

    async def _reply(self, timeout: float) -> Reply:
        future = self.channel.next_reply()
        if future.done():
            return future.result()
        timer = asyncio.get_running_loop().call_later(timeout, _expire, future)  # no Task per invocation
        try:
            return await future
        finally:
            timer.cancel()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        if self.channel.transport is not None:
            self.channel.transport.close()
        if self.reaper is not None:
            self.reaper()
