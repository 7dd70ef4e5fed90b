"""Per-version sliding windows of invocation outcomes: what rollout gates judge.

Every invocation the gateway finishes lands in a one-second bucket of its (function, version, channel):
``live`` for real traffic, ``shadow`` for mirrored calls whose answers were discarded. A bucket counts
invocations, errors by code and cold starts exactly, and keeps up to ``samples_per_second`` durations
(reservoir sampling past that), so a window over any span answers with exact rates and latency
percentiles from a bounded sample. Buckets older than ``keep_s`` are dropped as new ones arrive.

These windows are this node's own traffic, and the truth for it. With several nodes (PostgreSQL), the
controller judges ``turnout.cluster.windows.MergedWindows`` instead: these buckets, live, plus the ones every
other node publishes (docs/cluster.md). Both answer :class:`WindowView`, what the controller reads.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from turnout.domain.gates import Window
from turnout.errors import Throttled, TurnoutError
from turnout.gateway.invoke import Record
from turnout.runtime.supervisor import Outcome, Target

LIVE, SHADOW = "live", "shadow"


class WindowView(Protocol):
    """What the rollout controller reads: one node's windows, or every node's merged."""

    def window(self, function: str, version: str, since: float, channel: str = LIVE) -> Window: ...

    def comparisons(self, function: str, version: str, since: float) -> tuple[int, int]: ...

    def rate(self, function: str, versions: list[str], span_s: float) -> tuple[float, float | None]: ...


@dataclass
class Bucket:
    """One second of one (function, version, channel): exact counts and a bounded sample of durations."""

    second: int
    invocations: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cold_starts: int = 0
    durations: list[float] = field(default_factory=list)
    compared: int = 0
    mismatches: int = 0


class Windows:
    def __init__(
        self,
        keep_s: int = 3600,
        samples_per_second: int = 200,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keep_s = keep_s
        self.samples = samples_per_second
        self.clock = clock
        self._series: dict[tuple[str, str, str], deque[Bucket]] = {}
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"Windows(series={len(self._series)})"

    def observe(self, record: Record) -> None:
        """A gateway observer: one live invocation's outcome."""
        self.add(record.target.function, record.outcome, LIVE, timeout_s=record.target.config.timeout)

    def failed(self, target: Target, error: TurnoutError) -> None:
        """A gateway failure observer: a platform error on a resolved target counts as that version's error
        (throttling is the caller's excess, not the version's fault, and is not counted)."""
        if isinstance(error, Throttled):
            return
        bucket = self._bucket(target.function, target.label, LIVE)
        bucket.invocations += 1
        bucket.errors[error.code] += 1

    def add(self, function: str, outcome: Outcome, channel: str, timeout_s: float = 0.0) -> None:
        bucket = self._bucket(function, outcome.version, channel)
        bucket.invocations += 1
        ms = outcome.duration_ms
        if outcome.error is not None:
            code = outcome.error_code or "Function.Unhandled"
            bucket.errors[code] += 1
            if not ms and code == "Function.Timeout":
                ms = timeout_s * 1000.0
        if outcome.cold:
            bucket.cold_starts += 1
        if ms > 0:
            self._sample(bucket, ms)

    def compare(self, function: str, version: str, matched: bool) -> None:
        """A mirrored call's answer was compared with the baseline's."""
        bucket = self._bucket(function, version, SHADOW)
        bucket.compared += 1
        bucket.mismatches += 0 if matched else 1

    def window(self, function: str, version: str, since: float, channel: str = LIVE) -> Window:
        """The figures of one version from ``since`` (epoch seconds) until now."""
        buckets = self._since(function, version, channel, since)
        errors: Counter[str] = Counter()
        durations: list[float] = []
        for b in buckets:
            errors.update(b.errors)
            durations.extend(b.durations)
        durations.sort()
        return Window(
            invocations=sum(b.invocations for b in buckets),
            errors=dict(errors),
            p50_ms=_percentile(durations, 0.50),
            p90_ms=_percentile(durations, 0.90),
            p99_ms=_percentile(durations, 0.99),
            cold_starts=sum(b.cold_starts for b in buckets),
        )

    def comparisons(self, function: str, version: str, since: float) -> tuple[int, int]:
        """(compared, mismatched) mirrored answers of one version since ``since``."""
        buckets = self._since(function, version, SHADOW, since)
        return sum(b.compared for b in buckets), sum(b.mismatches for b in buckets)

    def rate(self, function: str, versions: list[str], span_s: float) -> tuple[float, float | None]:
        """Live invocations per second over the last ``span_s`` across ``versions``, and their p90 ms."""
        now = self.clock()
        windows = [self.window(function, v, now - span_s) for v in versions]
        count = sum(w.invocations for w in windows)
        p90s = [w.p90_ms for w in windows if w.p90_ms is not None]
        firsts = [s[0].second for v in versions if (s := self._series.get((function, v, LIVE)))]
        # traffic that began less than span_s ago is averaged over the time it has been flowing
        observed = min(span_s, max(1.0, now - min(firsts))) if firsts else span_s
        return count / observed, max(p90s) if p90s else None

    def series(self, function: str) -> dict[tuple[str, str], deque[Bucket]]:
        """The function's buckets by (version, channel), oldest first (read them on the event loop)."""
        return {(v, c): s for (f, v, c), s in self._series.items() if f == function}

    def buckets(self, function: str, version: str, channel: str, since: float) -> list[Bucket]:
        """One version's buckets of ``channel`` from the second of ``since`` on."""
        return self._since(function, version, channel, since)

    def forget(self, function: str) -> None:
        for key in [k for k in self._series if k[0] == function]:
            del self._series[key]

    def _bucket(self, function: str, version: str, channel: str) -> Bucket:
        second = int(self.clock())
        series = self._series.get((function, version, channel))
        if series is None:
            series = self._series[(function, version, channel)] = deque()
        if series and series[-1].second == second:
            return series[-1]
        while series and series[0].second <= second - self.keep_s:
            series.popleft()
        bucket = Bucket(second)
        series.append(bucket)
        return bucket

    def _since(self, function: str, version: str, channel: str, since: float) -> list[Bucket]:
        series = self._series.get((function, version, channel))
        if not series:
            return []
        first = math.floor(since)
        return [b for b in series if b.second >= first]

    def _sample(self, bucket: Bucket, ms: float) -> None:
        if len(bucket.durations) < self.samples:
            bucket.durations.append(ms)
            return
        seen = bucket.invocations  # reservoir sampling: every duration has the same chance to be kept
        slot = self._random.randrange(seen)
        if slot < self.samples:
            bucket.durations[slot] = ms


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values; ``None`` when there are none.

    >>> _percentile([float(i) for i in range(1, 101)], 0.99)
    99.0
    """
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1], 3)
