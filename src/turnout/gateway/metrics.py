"""Prometheus metrics of invocations, per function and version, in a registry of the app's own.

Metrics are per node: every ``turnout_*`` series carries a constant ``node`` label (this node's name), so
series scraped from several nodes of a cluster never collide and sum across nodes with ``sum by``.

:meth:`Metrics.observe` is a gateway observer: it runs on the event loop for every invocation, so it
looks up its label children once per (function, version) and then only increments. Concurrent
executions and queue depths are read from the supervisor's live counts when scraped; a request that waited
for a concurrency slot adds its wait to ``turnout_queue_wait_seconds`` (one that waited out the bound is a
``turnout_throttles``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from turnout.errors import Throttled, TurnoutError
from turnout.gateway.invoke import Record
from turnout.runtime.admission import QueueStats
from turnout.runtime.supervisor import Target

CONTENT_TYPE = CONTENT_TYPE_LATEST
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
INIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
InFlight = Callable[[], Mapping[str, int]]
Queues = Callable[[], Mapping[tuple[str, str], QueueStats]]
DoorCounts = Callable[[], Mapping[tuple[str, str], int]]  # (door, result) -> requests (gateway/entry.py)


@dataclass(frozen=True)
class _Series:
    """The label children of one (function, version), looked up once."""

    success: Counter
    failure: Counter
    duration: Histogram
    cold: Counter
    init: Histogram
    queue_wait: Histogram


class _Live:
    """A collector of values read at scrape time: concurrent executions, queue depths, dropped log records."""

    def __init__(
        self,
        node: str,
        in_flight: InFlight,
        dropped_logs: Callable[[], int] | None,
        queues: Queues | None,
        doors: DoorCounts | None,
    ) -> None:
        self.node = node
        self.in_flight = in_flight
        self.dropped_logs = dropped_logs
        self.queues = queues
        self.doors = doors

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "turnout_concurrent_executions",
            "Invocations of the function running now on this node.",
            labels=["node", "function"],
        )
        for function, count in sorted(dict(self.in_flight()).items()):
            gauge.add_metric([self.node, function], count)
        yield gauge
        if self.queues is not None:
            depth = GaugeMetricFamily(
                "turnout_queue_depth",
                "Requests of the version waiting now for a concurrency slot of their function on this node.",
                labels=["node", "function", "version"],
            )
            for (function, version), stats in sorted(dict(self.queues()).items()):
                depth.add_metric([self.node, function, version], stats.depth)
            yield depth
        if self.dropped_logs is not None:
            dropped = CounterMetricFamily(
                "turnout_log_records_dropped",
                "Invocation log records dropped because the log writer fell behind.",
                labels=["node"],
            )
            dropped.add_metric([self.node], self.dropped_logs())
            yield dropped
        if self.doors is not None:
            entry = CounterMetricFamily(
                "turnout_entry_requests",
                "Requests through the invocation entry, by door (invoke, route, function_url, lambda, "
                "schedule, queue, hook) and result (ok, function_error, refused, queued).",
                labels=["node", "door", "result"],
            )
            for (door, result), count in sorted(dict(self.doors()).items()):
                entry.add_metric([self.node, door, result], count)
            yield entry


class Metrics:
    def __init__(
        self,
        node: str,
        in_flight: InFlight,
        dropped_logs: Callable[[], int] | None = None,
        queues: Queues | None = None,
        doors: DoorCounts | None = None,
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series: noise
        self.node = node
        self.registry = CollectorRegistry()
        r = self.registry
        fv = ["node", "function", "version"]
        self.invocations = Counter(
            "turnout_invocations",
            "Invocations that ran (or tried to), by outcome.",
            [*fv, "outcome"],
            registry=r,
        )
        self.errors = Counter(
            "turnout_errors", "Failed invocations by error code.", [*fv, "code"], registry=r
        )
        self.rollouts_blocked = Counter(
            "turnout_rollouts_blocked",
            "Rollouts held (paused) because a move they decided - usually the automatic rollback - would "
            "send traffic to a version that excludes a shared resource's version (docs/releases.md).",
            ["node", "function", "alias"],
            registry=r,
        )
        self.duration = Histogram(
            "turnout_invocation_duration_seconds",
            "How long the handler ran (invocations that reached it).",
            fv,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.cold_starts = Counter(
            "turnout_cold_starts", "Invocations served by a new worker.", fv, registry=r
        )
        self.init_duration = Histogram(
            "turnout_init_duration_seconds",
            "How long a new worker took to import the handler (cold starts).",
            fv,
            buckets=INIT_BUCKETS,
            registry=r,
        )
        self.throttles = Counter(
            "turnout_throttles", "Invocations refused at the function's concurrency limit.", fv, registry=r
        )
        self.queue_wait = Histogram(
            "turnout_queue_wait_seconds",
            "How long requests that found the function at its concurrency limit waited for a slot.",
            fv,
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        r.register(_Live(node, in_flight, dropped_logs, queues, doors))
        ProcessCollector(registry=r)
        self._series: dict[tuple[str, str], _Series] = {}

    def __repr__(self) -> str:
        return f"Metrics(node={self.node!r}, series={len(self._series)})"

    def observe(self, record: Record) -> None:
        """A gateway observer: one invocation's outcome."""
        outcome = record.outcome
        key = (record.target.function, outcome.version)
        series = self._series.get(key) or self._add(key)
        ms = outcome.duration_ms
        if outcome.error is None:
            series.success.inc()
        else:
            series.failure.inc()
            code = outcome.error_code or "Function.Unhandled"
            self.errors.labels(self.node, *key, code).inc()
            if not ms and code == "Function.Timeout":
                ms = record.target.config.timeout * 1000.0
        if ms > 0:
            series.duration.observe(ms / 1000.0)
        if outcome.cold:
            series.cold.inc()
            series.init.observe(outcome.init_ms / 1000.0)
        if outcome.queued_ms > 0:
            series.queue_wait.observe(outcome.queued_ms / 1000.0)

    def forget(self, function: str) -> None:
        """Drop every series of a function (it was deleted: one made later under its name starts at 0)."""
        labelled = {
            self.invocations: ("node", "function", "version", "outcome"),
            self.errors: ("node", "function", "version", "code"),
            self.duration: ("node", "function", "version"),
            self.cold_starts: ("node", "function", "version"),
            self.init_duration: ("node", "function", "version"),
            self.throttles: ("node", "function", "version"),
            self.queue_wait: ("node", "function", "version"),
        }
        for metric, names in labelled.items():
            children = {
                tuple(sample.labels[n] for n in names)
                for family in metric.collect()
                for sample in family.samples
                if sample.labels.get("function") == function
            }
            for values in children:
                metric.remove(*values)
        for key in [k for k in self._series if k[0] == function]:
            del self._series[key]

    def failed(self, target: Target, error: TurnoutError) -> None:
        """A gateway failure observer: a platform error while running a resolved target."""
        if isinstance(error, Throttled):
            self.throttles.labels(self.node, target.function, target.label).inc()
            return
        self.invocations.labels(self.node, target.function, target.label, "error").inc()
        self.errors.labels(self.node, target.function, target.label, error.code).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)

    def _add(self, key: tuple[str, str]) -> _Series:
        labels = (self.node, *key)
        series = self._series[key] = _Series(
            success=self.invocations.labels(*labels, "success"),
            failure=self.invocations.labels(*labels, "error"),
            duration=self.duration.labels(*labels),
            cold=self.cold_starts.labels(*labels),
            init=self.init_duration.labels(*labels),
            queue_wait=self.queue_wait.labels(*labels),
        )
        return series
