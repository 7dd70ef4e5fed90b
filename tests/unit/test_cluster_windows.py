"""Rollout windows across nodes, pure: merging buckets of several nodes (counts, errors, weighted latency
percentiles, shadow comparisons, rates) and what a running rollout makes a node watch."""

from __future__ import annotations

import doctest
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from turnout.cluster import buckets as buckets_module
from turnout.cluster.buckets import from_json, merge, to_json, weighted_percentile
from turnout.cluster.windows import MergedWindows, watched_since
from turnout.domain.plan import Plan
from turnout.domain.rollout import start
from turnout.domain.strategy import canary
from turnout.gateway.window import LIVE, SHADOW, Bucket, Windows
from turnout.runtime.supervisor import Outcome
from turnout.store.rollouts import RolloutRecord
from turnout.store.window_buckets import BucketRow

FN = "thumbs"
T0 = 1_700_000_000


class Clock:
    def __init__(self, now: float = T0 + 0.5) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def bucket(
    second: int = T0, invocations: int = 0, durations: list[float] | None = None, **kw: object
) -> Bucket:
    return Bucket(second, invocations, durations=list(durations or []), **kw)  # type: ignore[arg-type]


def row(node: str, version: str, b: Bucket, channel: str = LIVE) -> BucketRow:
    return BucketRow(node, FN, version, channel, b.second, to_json(b))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def local(clock: Clock) -> Windows:
    return Windows(keep_s=600, samples_per_second=200, clock=clock)


@pytest.fixture
def merged(local: Windows) -> MergedWindows:
    return MergedWindows(local, "node-a")


def test_the_bucket_helpers_examples_hold() -> None:
    assert doctest.testmod(buckets_module).failed == 0


def test_counts_errors_and_cold_starts_add_up_across_nodes() -> None:
    a = bucket(invocations=10, errors=Counter({"Function.Unhandled": 2}), cold_starts=1)
    b = bucket(invocations=5, errors=Counter({"Function.Unhandled": 1, "Function.Timeout": 3}), cold_starts=2)
    window = merge([a, b])
    assert window.invocations == 15 and window.cold_starts == 3
    assert window.errors == {"Function.Unhandled": 3, "Function.Timeout": 3}


def test_a_quiet_nodes_samples_do_not_speak_for_a_busy_nodes_traffic() -> None:
    busy = bucket(invocations=2000, durations=[10.0] * 200)  # 200 samples stand for 2,000 calls
    quiet = bucket(invocations=20, durations=[500.0] * 20)  # 1% of the traffic
    window = merge([busy, quiet])
    assert (window.p50_ms, window.p90_ms, window.p99_ms) == (10.0, 10.0, 10.0)
    pooled = sorted([10.0] * 200 + [500.0] * 20)  # unweighted, 9% of the samples would be slow
    assert pooled[int(0.95 * len(pooled))] == 500.0


def test_slow_calls_above_one_percent_of_all_traffic_show_in_the_merged_p99() -> None:
    busy = bucket(invocations=2000, durations=[10.0] * 200)
    quiet = bucket(invocations=50, durations=[500.0] * 50)  # 2.4% of the calls
    assert merge([busy, quiet]).p99_ms == 500.0
    assert merge([busy, quiet]).p90_ms == 10.0


def test_equal_weights_give_the_plain_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 11)]
    assert merge([bucket(invocations=10, durations=values)]).p90_ms == 9.0
    assert weighted_percentile([], 0.5) is None


def test_a_bucket_survives_its_json_form() -> None:
    original = bucket(
        invocations=7,
        durations=[1.23456, 2.0],
        errors=Counter({"E": 2}),
        cold_starts=1,
        compared=4,
        mismatches=1,
    )
    back = from_json(T0, to_json(original))
    assert back == replace(original, durations=[1.235, 2.0])
    assert from_json(T0, {}) == bucket()


def test_the_merged_window_is_the_local_buckets_plus_the_other_nodes(
    local: Windows, merged: MergedWindows
) -> None:
    for ms in (5.0, 6.0):
        local.add(FN, Outcome("2", b"{}", duration_ms=ms), LIVE)
    local.add(FN, Outcome("2", error={"code": "Function.Unhandled", "message": "x"}), LIVE)
    remote = bucket(invocations=4, errors=Counter({"Function.Unhandled": 4}), durations=[50.0] * 4)
    merged.update(FN, [(n, "2", LIVE, T0) for n in ("node-b",)], [row("node-b", "2", remote)])
    window = merged.window(FN, "2", T0)
    assert window.invocations == 7 and window.errors == {"Function.Unhandled": 5}
    assert window.p50_ms == 50.0  # 2 local samples, 4 remote ones
    assert merged.window(FN, "1", T0).invocations == 0
    assert merged.window(FN, "2", T0 + 1).invocations == 0  # the span starts after those seconds


def test_shadow_comparisons_merge_across_nodes(local: Windows, merged: MergedWindows) -> None:
    local.compare(FN, "2", matched=False)
    local.compare(FN, "2", matched=True)
    remote = bucket(compared=10, mismatches=3)
    merged.update(FN, [("node-b", "2", SHADOW, T0)], [row("node-b", "2", remote, SHADOW)])
    assert merged.comparisons(FN, "2", T0) == (12, 4)
    assert merged.window(FN, "2", T0).invocations == 0  # comparisons are not live traffic


def test_the_rate_counts_every_nodes_traffic_since_it_began(clock: Clock, merged: MergedWindows) -> None:
    rows = [
        row("node-b", v, bucket(T0 + s, invocations=10, durations=[20.0] * 10))
        for s in range(5)
        for v in "12"
    ]
    merged.update(FN, [r.key for r in rows], rows)
    clock.now = T0 + 10
    rate, p90 = merged.rate(FN, ["1", "2"], 30)
    assert rate == pytest.approx(100 / 10)  # traffic flowed for 10 s, not 30
    assert p90 == 20.0


def test_rows_gone_from_the_store_are_dropped_and_unchanged_ones_kept(merged: MergedWindows) -> None:
    first, second = bucket(T0, invocations=3), bucket(T0 + 1, invocations=4)
    merged.update(
        FN,
        [("node-b", "2", LIVE, T0), ("node-b", "2", LIVE, T0 + 1)],
        [row("node-b", "2", first), row("node-b", "2", second)],
    )
    assert merged.stamps()[FN] == {("node-b", "2", LIVE, T0): (3, 0), ("node-b", "2", LIVE, T0 + 1): (4, 0)}
    merged.update(FN, [("node-b", "2", LIVE, T0 + 1)], [])  # T0 was pruned, T0+1 did not change
    assert merged.window(FN, "2", T0).invocations == 4
    merged.keep_only([])
    assert merged.window(FN, "2", T0).invocations == 0 and merged.stamps() == {}


def record(function: str, started: datetime, window_s: int = 60) -> RolloutRecord:
    rollout = start("prod", 1, 2, canary(1000, 60), started)
    plan = Plan(window_s=window_s)
    return RolloutRecord(1, function, 1, rollout, plan, "alice", started, started)


def test_a_rollout_is_watched_from_the_oldest_second_its_controller_reads() -> None:
    recent = record(FN, datetime.fromtimestamp(T0 - 5, UTC), window_s=60)
    assert watched_since([recent], T0) == {FN: T0 - 30 - 1}  # the warming rate looks 30 s back
    old = record(FN, datetime.fromtimestamp(T0 - 600, UTC), window_s=120)
    assert watched_since([old], T0) == {FN: T0 - 120 - 1}
    assert watched_since([recent, old], T0) == {FN: T0 - 121}
