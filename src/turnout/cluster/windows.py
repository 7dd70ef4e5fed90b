"""Rollout windows across nodes: the publisher loop that shares this node's buckets, and the merged view
the rollout controller judges (docs/cluster.md, "Rollout windows across nodes").

Every ``interval_s`` (TURNOUT_WINDOW_PUBLISH_MS) the :class:`WindowPublisher`

1. reads the running rollouts, and from each the oldest second its gates (or its warming rate) can look
   at: the functions to *watch*, each from a second on;
2. on the event loop, picks this node's buckets of watched functions that changed since the last publish
   (only a series' newest buckets can change, so it walks each series back to the first bucket it
   already published unchanged);
3. in a thread, upserts them into ``window_buckets``, deletes rows older than the windows keep (every
   ``prune_every_s``) and the rows of functions deleted here, then reads the other nodes' rows of watched
   functions: their fingerprints first, the full rows only of those that changed;
4. hands what it read to :class:`MergedWindows`.

The invoke path never waits on any of it: it only touches the local ``Windows``. A cycle that fails
(PostgreSQL down) is logged once, and the next one retries: buckets not yet published are still "changed",
and the merged view keeps what it last read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from turnout.cluster import buckets as merge
from turnout.domain.gates import Window
from turnout.gateway.window import LIVE, SHADOW, Bucket, Windows
from turnout.store import Store
from turnout.store.rollouts import RolloutRecord
from turnout.store.window_buckets import BucketKey, BucketRow

log = logging.getLogger(__name__)
Stamp = tuple[int, int]  # a bucket's fingerprint: (invocations, compared)
RATE_SPAN_S = 30  # the controller's warming rate looks at most this far back


class MergedWindows:
    """This node's windows (live, exact) plus the buckets other nodes published, as one view.

    Answers what the controller asks of a ``Windows`` (``window``, ``comparisons``, ``rate``); only the
    publisher (on the event loop) changes what it holds of other nodes.
    """

    def __init__(self, local: Windows, node: str) -> None:
        self.local = local
        self.node = node
        self._remote: dict[tuple[str, str, str], dict[tuple[str, int], Bucket]] = {}
        self._stamps: dict[str, dict[BucketKey, Stamp]] = {}

    def __repr__(self) -> str:
        return f"MergedWindows(node={self.node!r}, functions={sorted(self._stamps)})"

    def window(self, function: str, version: str, since: float, channel: str = LIVE) -> Window:
        return merge.merge(self._buckets(function, version, channel, since))

    def comparisons(self, function: str, version: str, since: float) -> tuple[int, int]:
        return merge.comparisons(self._buckets(function, version, SHADOW, since))

    def rate(self, function: str, versions: list[str], span_s: float) -> tuple[float, float | None]:
        """Live invocations per second of ``versions`` on every node over the last ``span_s``, and the
        highest of their p90s."""
        now = self.local.clock()
        windows = [self.window(function, v, now - span_s) for v in versions]
        p90s = [w.p90_ms for w in windows if w.p90_ms is not None]
        firsts = [self._first(function, v) for v in versions]
        observed = merge.observed_span([f for f in firsts if f is not None], now, span_s)
        return sum(w.invocations for w in windows) / observed, max(p90s) if p90s else None

    def stamps(self) -> dict[str, dict[BucketKey, Stamp]]:
        """A copy of the fingerprints of what is held of other nodes, by function (for the reader)."""
        return {function: dict(stamps) for function, stamps in self._stamps.items()}

    def update(self, function: str, present: Iterable[BucketKey], rows: Iterable[BucketRow]) -> None:
        """Another read of ``function``: ``present`` are the keys of all its rows there now, ``rows`` the
        ones that changed since the last read. A row gone from the store (pruned) is dropped here too."""
        held = self._stamps.setdefault(function, {})
        for key in held.keys() - set(present):
            node, version, channel, second = key
            self._remote.get((function, version, channel), {}).pop((node, second), None)
            del held[key]
        for row in rows:
            bucket = merge.from_json(row.second, row.data)
            self._remote.setdefault((function, row.version, row.channel), {})[(row.node, row.second)] = bucket
            held[row.key] = merge.fingerprint(bucket)

    def keep_only(self, functions: Iterable[str]) -> None:
        """Drop what is held of functions no longer watched."""
        for function in set(self._stamps) - set(functions):
            self.forget(function)

    def forget(self, function: str) -> None:
        self._stamps.pop(function, None)
        for key in [k for k in self._remote if k[0] == function]:
            del self._remote[key]

    def _buckets(self, function: str, version: str, channel: str, since: float) -> list[Bucket]:
        first = math.floor(since)
        remote = self._remote.get((function, version, channel), {})
        others = [b for (_, second), b in remote.items() if second >= first]
        return self.local.buckets(function, version, channel, since) + others

    def _first(self, function: str, version: str) -> int | None:
        seconds = [second for _, second in self._remote.get((function, version, LIVE), {})]
        local = self.local.series(function).get((version, LIVE))
        if local:
            seconds.append(local[0].second)
        return min(seconds, default=None)


@dataclass
class _Cycle:
    """One publish: the rows to write, and the fingerprints they carry (kept once written)."""

    rows: list[BucketRow] = field(default_factory=list)
    stamps: dict[tuple[str, str, str, int], Stamp] = field(default_factory=dict)


class WindowPublisher:
    """Publishes this node's buckets of functions under a rollout and reads the other nodes' ones."""

    def __init__(
        self,
        store: Store,
        merged: MergedWindows,
        interval_s: float = 0.25,
        prune_every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.merged = merged
        self.local = merged.local
        self.node = merged.node
        self.interval_s = interval_s
        self.prune_every_s = prune_every_s
        self.monotonic = monotonic
        self._published: dict[tuple[str, str, str, int], Stamp] = {}  # (function, version, channel, s)
        self._since: dict[str, int] = {}
        self._removed: set[str] = set()
        self._pruned_at = -math.inf
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"WindowPublisher(node={self.node!r}, watching={sorted(self._since)})"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def forget(self, function: str) -> None:
        """The function was deleted: stop holding it, and delete this node's rows of it next cycle."""
        self.merged.forget(function)
        self._published = {k: v for k, v in self._published.items() if k[0] != function}
        self._since.pop(function, None)
        self._removed.add(function)

    async def _run(self) -> None:
        while True:
            started = self.monotonic()
            await self.cycle()
            await asyncio.sleep(max(0.0, self.interval_s - (self.monotonic() - started)))

    async def cycle(self) -> None:
        """Publish what changed and read what the other nodes published; never raises."""
        try:
            watched = await asyncio.to_thread(self._watched)
            self._watch(watched)
            cycle = self._changed(watched)
            removed, self._removed = self._removed, set()
            try:
                await asyncio.to_thread(self._publish, cycle.rows, removed)
            except BaseException:
                self._removed |= removed
                raise
            self._published.update(cycle.stamps)
            reads = await asyncio.to_thread(self._read, watched, self.merged.stamps())
        except Exception as exc:  # noqa: BLE001 - logged once; the next cycle retries
            if not self._failing:
                log.warning("cannot share rollout windows through the store (retrying): %s", exc)
            self._failing = True
            return
        for function, (present, rows) in reads.items():
            self.merged.update(function, present, rows)
        self.merged.keep_only(watched)
        if self._failing:
            log.warning("sharing rollout windows through the store again")
        self._failing = False

    # -- on a thread: the store --------------------------------------------------------------------------

    def _watched(self) -> dict[str, int]:
        with self.store.read() as tx:
            records = tx.rollouts.running()
        return watched_since(records, self.local.clock())

    def _publish(self, rows: Sequence[BucketRow], removed: set[str]) -> None:
        prune = self.monotonic() - self._pruned_at >= self.prune_every_s
        if not rows and not removed and not prune:
            return
        with self.store.write() as tx:
            tx.window_buckets.put(rows)
            for function in removed:
                tx.window_buckets.remove(self.node, function)
            if prune:
                tx.window_buckets.prune(int(self.local.clock()) - self.local.keep_s)
        if prune:
            self._pruned_at = self.monotonic()

    def _read(
        self, watched: dict[str, int], held: dict[str, dict[BucketKey, Stamp]]
    ) -> dict[str, tuple[dict[BucketKey, Stamp], list[BucketRow]]]:
        reads: dict[str, tuple[dict[BucketKey, Stamp], list[BucketRow]]] = {}
        if not watched:
            return reads
        with self.store.read() as tx:
            for function, since in watched.items():
                stamps = tx.window_buckets.fingerprints(function, since, other_than=self.node)
                known = held.get(function, {})
                changed = [key for key, stamp in stamps.items() if known.get(key) != stamp]
                reads[function] = stamps, tx.window_buckets.read(function, changed)
        return reads

    # -- on the event loop: the local windows -------------------------------------------------------------

    def _watch(self, watched: dict[str, int]) -> None:
        """Forget published fingerprints that no longer matter; a function whose horizon moved back is
        published again from its new start."""
        for function in list(self._since):
            if function not in watched or watched[function] < self._since[function]:
                self._published = {k: v for k, v in self._published.items() if k[0] != function}
        self._since = dict(watched)
        self._published = {k: v for k, v in self._published.items() if k[3] >= watched.get(k[0], k[3] + 1)}

    def _changed(self, watched: dict[str, int]) -> _Cycle:
        cycle = _Cycle()
        for function, since in watched.items():
            for (version, channel), series in self.local.series(function).items():
                for bucket in reversed(series):
                    key = (function, version, channel, bucket.second)
                    stamp = merge.fingerprint(bucket)
                    if bucket.second < since or self._published.get(key) == stamp:
                        break  # older buckets never change once newer ones exist
                    row = BucketRow(
                        self.node, function, version, channel, bucket.second, merge.to_json(bucket)
                    )
                    cycle.rows.append(row)
                    cycle.stamps[key] = stamp
        return cycle


def watched_since(records: Iterable[RolloutRecord], now: float) -> dict[str, int]:
    """The functions under a running rollout, each with the oldest second the controller may read of it:
    the gates' span (since the step began, at most ``window_s``) or the warming rate's (at most 30 s).

    A function under two rollouts (two aliases) is watched from the older of their seconds.
    """
    watched: dict[str, int] = {}
    for record in records:
        r = record.rollout
        began = (r.step_started_at or r.state_since).timestamp()
        gates = max(began, now - record.plan.window_s)
        since = math.floor(min(gates, now - min(record.plan.window_s, RATE_SPAN_S))) - 1
        watched[record.function] = min(since, watched.get(record.function, since))
    return watched
