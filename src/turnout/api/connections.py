"""The server's open connections: how long a client may take to send a request, and how many may stay.

Each connection (a :class:`Watched`, see ``api/protocol.py``) keeps a deadline that the protocol moves
as the request arrives: ``header_timeout_s`` from the first byte (or the connection's opening) until its
headers are complete, then ``body_timeout_s`` between two reads of its body, none while the request is
answered (the function's timeout governs). One sweep per half second, not a timer per request, closes the
connections past their deadline, so the hot path only stores a number.

Past ``cap`` open connections a new one makes the oldest idle connections (no request in progress)
close; when none is idle the new one is closed. Shedding is logged, at most one line a second.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("turnout.connections")
SWEEP_S = 0.5
LOG_EVERY_S = 1.0
MAX_DERIVED_CAP = 10_000


class Watched(Protocol):
    deadline: float | None

    def expire(self) -> None: ...

    def close_idle(self) -> None: ...


@dataclass(frozen=True)
class Timeouts:
    header_s: float
    body_s: float


class Connections:
    """Open connections of one server: deadlines swept, idle ones in the order they became idle."""

    def __init__(self, cap: int, timeouts: Timeouts) -> None:
        self.cap = cap
        self.timeouts = timeouts
        self.open: dict[Watched, None] = {}
        self.idle: dict[Watched, float] = {}
        self._sweeping: asyncio.TimerHandle | None = None
        self._shed = 0
        self._logged_at = 0.0

    def __repr__(self) -> str:
        return f"Connections(open={len(self.open)}, idle={len(self.idle)}, cap={self.cap})"

    def opened(self, conn: Watched, loop: asyncio.AbstractEventLoop) -> bool:
        """Register a new connection; False when it must be closed (at the cap, nothing idle to shed)."""
        if self._sweeping is None:
            self._sweeping = loop.call_later(SWEEP_S, self._sweep, loop)
        while len(self.open) >= self.cap and self.idle:
            oldest = next(iter(self.idle))
            self.closed(oldest)
            oldest.close_idle()
            self._shed += 1
        self._log_shedding()
        if len(self.open) >= self.cap:
            log.warning("connection cap of %d reached and no connection is idle: refusing one", self.cap)
            return False
        self.open[conn] = None
        self.became_idle(conn)
        return True

    def became_idle(self, conn: Watched) -> None:
        self.idle.pop(conn, None)
        self.idle[conn] = time.monotonic()

    def became_busy(self, conn: Watched) -> None:
        self.idle.pop(conn, None)

    def closed(self, conn: Watched) -> None:
        self.open.pop(conn, None)
        self.idle.pop(conn, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in [c for c in self.open if c.deadline is not None and c.deadline <= now]:
            conn.expire()
        self._log_shedding()
        self._sweeping = loop.call_later(SWEEP_S, self._sweep, loop) if self.open else None

    def _log_shedding(self) -> None:
        now = time.monotonic()
        if self._shed and now - self._logged_at >= LOG_EVERY_S:
            log.warning(
                "connection cap of %d reached (TURNOUT_MAX_CONNECTIONS): closed the %d oldest idle "
                "connection(s)",
                self.cap,
                self._shed,
            )
            self._shed, self._logged_at = 0, now


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the resulting soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, wanted, exc)
    return int(soft)


def connection_cap(setting: int, open_files: int) -> int:
    """The cap: the setting, or three quarters of the open-file limit (at most 10,000) when it is 0.

    >>> connection_cap(0, 1024), connection_cap(0, 1 << 20), connection_cap(50, 1024)
    (768, 10000, 50)
    """
    return setting if setting > 0 else max(16, min(MAX_DERIVED_CAP, open_files * 3 // 4))
