"""What the console reads from this node's data plane: invocations and errors of the last minutes from the
gateway's rollout windows, and the warm workers of each version. Read on the event loop, where the gateway
writes them; nothing here touches the store or the invoke path."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from turnout.gateway.window import LIVE, Windows
from turnout.runtime.supervisor import Supervisor

RECENT_S = 300


@dataclass(frozen=True)
class Recent:
    """Invocations and errors of one function (or version) over the last :data:`RECENT_S` seconds."""

    invocations: int = 0
    errors: int = 0

    @property
    def error_rate(self) -> float:
        """Errors per invocation; 0 when there were none.

        >>> Recent(200, 3).error_rate
        0.015
        """
        return self.errors / self.invocations if self.invocations else 0.0

    def __add__(self, other: Recent) -> Recent:
        return Recent(self.invocations + other.invocations, self.errors + other.errors)


def recent_by_version(windows: Windows, function: str, now: float | None = None) -> dict[str, Recent]:
    """Each version's live figures of the last five minutes: ``{"3": Recent(…)}``."""
    since = int((time.time() if now is None else now) - RECENT_S)
    found: dict[str, Recent] = {}
    for (version, channel), buckets in windows.series(function).items():
        if channel != LIVE:
            continue
        recent = [b for b in buckets if b.second >= since]
        found[version] = Recent(
            sum(b.invocations for b in recent), sum(sum(b.errors.values()) for b in recent)
        )
    return found


def recent_by_function(windows: Windows, functions: Iterable[str]) -> dict[str, Recent]:
    """The last five minutes of each function in ``functions``, all versions together."""
    now = time.time()
    return {name: sum(recent_by_version(windows, name, now).values(), Recent()) for name in functions}


def warm_workers(supervisor: Supervisor, function: str) -> dict[str, dict[str, int]]:
    """This node's workers of ``function`` by version: ``{"3": {"idle": 2, "busy": 1}}``."""
    found: dict[str, dict[str, int]] = {}
    for key, pool in supervisor.pools.items():
        if key.function != function:
            continue
        counts = found.setdefault(key.version, {"idle": 0, "busy": 0})
        counts["idle"] += len(pool.idle)
        counts["busy"] += pool.busy
    return found
