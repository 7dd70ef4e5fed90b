"""Per-version sliding windows (gateway.window.Windows) with a fake clock: what rollout gates judge."""

from __future__ import annotations

import doctest

import pytest

from turnout.domain.config import FunctionConfig
from turnout.errors import StoreUnavailable, Throttled
from turnout.gateway import window as window_module
from turnout.gateway.invoke import Record
from turnout.gateway.window import LIVE, SHADOW, Windows
from turnout.runtime.supervisor import Outcome, Target

FN = "thumbs"
T0 = 1_700_000_000.0


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def windows(clock: Clock) -> Windows:
    return Windows(keep_s=600, samples_per_second=200, clock=clock)


def ok(version: str = "2", ms: float = 10.0, cold: bool = False) -> Outcome:
    return Outcome(version, b'{"ok": true}', duration_ms=ms, cold=cold)


def error(code: str, version: str = "2", ms: float = 10.0) -> Outcome:
    return Outcome(version, error={"code": code, "message": "boom"}, duration_ms=ms)


def target(version: int = 2, timeout: int = 3) -> Target:
    return Target(FN, version, FunctionConfig(handler="app.handler", timeout=timeout), "0" * 64)


def test_worked_examples_hold() -> None:
    assert doctest.testmod(window_module).failed == 0


def test_a_window_counts_invocations_errors_by_code_and_cold_starts(windows: Windows, clock: Clock) -> None:
    for _ in range(90):
        windows.add(FN, ok(), LIVE)
    for _ in range(6):
        windows.add(FN, error("Function.Unhandled"), LIVE)
    for _ in range(4):
        windows.add(FN, error("Function.Crashed"), LIVE)
    windows.add(FN, ok(cold=True), LIVE)
    clock.advance(5)
    windows.add(FN, error("Function.Unhandled"), LIVE)

    seen = windows.window(FN, "2", T0)
    assert seen.invocations == 102
    assert seen.errors == {"Function.Unhandled": 7, "Function.Crashed": 4}
    assert seen.error_rate == pytest.approx(11 / 102)
    assert seen.cold_starts == 1
    assert windows.window(FN, "1", T0).invocations == 0  # another version has its own window
    assert windows.window("other", "2", T0).invocations == 0


def test_buckets_older_than_since_are_left_out(windows: Windows, clock: Clock) -> None:
    for _ in range(10):
        windows.add(FN, error("Function.Crashed", ms=500.0), LIVE)
    clock.advance(30)
    for _ in range(5):
        windows.add(FN, ok(ms=20.0), LIVE)

    recent = windows.window(FN, "2", T0 + 30)
    assert (recent.invocations, recent.errors, recent.p99_ms) == (5, {}, 20.0)
    assert windows.window(FN, "2", T0 + 29.5).invocations == 5  # a bucket is one whole second
    assert windows.window(FN, "2", T0).invocations == 15
    assert windows.window(FN, "2", T0 + 31).invocations == 0
    empty = windows.window(FN, "2", T0 + 31)
    assert (empty.error_rate, empty.p50_ms, empty.p90_ms, empty.p99_ms) == (0.0, None, None, None)


def test_percentiles_are_nearest_rank_over_the_window(windows: Windows, clock: Clock) -> None:
    durations = [float(ms) for ms in range(1, 101)]
    for ms in reversed(durations[:50]):
        windows.add(FN, ok(ms=ms), LIVE)
    clock.advance(1)
    for ms in reversed(durations[50:]):  # across two buckets, in no particular order
        windows.add(FN, ok(ms=ms), LIVE)
    seen = windows.window(FN, "2", T0)
    assert (seen.p50_ms, seen.p90_ms, seen.p99_ms) == (50.0, 90.0, 99.0)

    clock.advance(1)
    for ms in (7.0, 1.0, 3.0, 10.0, 2.0, 9.0, 4.0, 6.0, 5.0, 8.0):
        windows.add(FN, ok("3", ms=ms), LIVE)
    ten = windows.window(FN, "3", T0)
    assert (ten.p50_ms, ten.p90_ms, ten.p99_ms) == (5.0, 9.0, 10.0)


def test_a_timeout_without_a_duration_counts_the_timeout_as_its_latency(windows: Windows) -> None:
    for _ in range(99):
        windows.observe(Record("r", target(timeout=3), "prod", ok(ms=20.0)))
    timed_out = Outcome("2", error={"code": "Function.Timeout", "message": "ran past 3 s"})
    windows.observe(Record("t", target(timeout=3), "prod", timed_out))

    seen = windows.window(FN, "2", T0)
    assert seen.invocations == 100 and seen.errors == {"Function.Timeout": 1}
    assert seen.p99_ms == 20.0
    windows.observe(Record("t2", target(timeout=3), "prod", timed_out))
    assert windows.window(FN, "2", T0).p99_ms == 3000.0  # 2 of 101 took the whole timeout


def test_other_errors_without_a_duration_add_no_latency(windows: Windows) -> None:
    windows.add(FN, ok(ms=20.0), LIVE, timeout_s=3)
    windows.add(FN, Outcome("2", error={"code": "Function.Crashed", "message": "died"}), LIVE, timeout_s=3)
    seen = windows.window(FN, "2", T0)
    assert (seen.invocations, seen.errors, seen.p99_ms) == (2, {"Function.Crashed": 1}, 20.0)


def test_platform_failures_count_as_the_versions_errors_but_throttling_does_not(windows: Windows) -> None:
    windows.add(FN, ok(), LIVE)
    windows.failed(target(), Throttled("at its concurrency limit"))
    windows.failed(target(), Throttled("at its concurrency limit"))
    assert windows.window(FN, "2", T0).invocations == 1

    windows.failed(target(), StoreUnavailable("the metadata store is unavailable"))
    seen = windows.window(FN, "2", T0)
    assert seen.invocations == 2 and seen.errors == {"StoreUnavailable": 1}
    assert windows.window(FN, "2", T0, SHADOW).invocations == 0


def test_the_shadow_channel_is_kept_apart_from_live_traffic(windows: Windows) -> None:
    for _ in range(8):
        windows.add(FN, ok(ms=10.0), LIVE)
    for _ in range(3):
        windows.add(FN, error("Function.Unhandled", ms=400.0), SHADOW)
    windows.add(FN, ok(ms=400.0), SHADOW)

    live, shadow = windows.window(FN, "2", T0), windows.window(FN, "2", T0, SHADOW)
    assert (live.invocations, live.errors, live.p99_ms) == (8, {}, 10.0)
    assert (shadow.invocations, shadow.errors, shadow.p99_ms) == (4, {"Function.Unhandled": 3}, 400.0)
    assert windows.window(FN, "2", T0, channel=LIVE) == live


def test_comparisons_count_compared_and_mismatched_answers_since(windows: Windows, clock: Clock) -> None:
    assert windows.comparisons(FN, "2", T0) == (0, 0)
    for matched in (True, False, True, True):
        windows.compare(FN, "2", matched)
    clock.advance(10)
    for matched in (False, False, True):
        windows.compare(FN, "2", matched)

    assert windows.comparisons(FN, "2", T0) == (7, 3)
    assert windows.comparisons(FN, "2", T0 + 10) == (3, 2)
    assert windows.comparisons(FN, "3", T0) == (0, 0)
    # comparing answers is not an invocation of either channel
    assert windows.window(FN, "2", T0, SHADOW).invocations == 0
    assert windows.window(FN, "2", T0).invocations == 0


def test_buckets_older_than_keep_s_are_dropped(clock: Clock) -> None:
    windows = Windows(keep_s=60, clock=clock)
    windows.add(FN, error("Function.Crashed"), LIVE)
    clock.advance(59)
    windows.add(FN, ok(), LIVE)
    assert windows.window(FN, "2", T0).invocations == 2  # still within keep_s

    clock.advance(1)
    windows.add(FN, ok(), LIVE)
    seen = windows.window(FN, "2", T0)
    assert (seen.invocations, seen.errors) == (2, {})  # the first second is gone, however far back we ask


def test_the_reservoir_keeps_a_bounded_sample_but_counts_every_invocation(clock: Clock) -> None:
    one = Windows(samples_per_second=1, clock=clock)
    for ms in range(1, 51):
        one.add(FN, ok(ms=float(ms)), LIVE)
    seen = one.window(FN, "2", T0)
    assert seen.invocations == 50
    assert seen.p50_ms == seen.p90_ms == seen.p99_ms  # one duration kept for that second
    assert seen.p50_ms in {float(ms) for ms in range(1, 51)}

    clock.advance(1)
    for ms in range(1, 51):
        one.add(FN, ok(ms=1000.0 + ms), LIVE)
    two = one.window(FN, "2", T0)
    assert two.invocations == 100
    assert two.p50_ms == seen.p50_ms and two.p99_ms is not None and two.p99_ms > 1000  # one per second


def test_the_reservoir_samples_the_whole_second_not_just_its_start(clock: Clock) -> None:
    windows = Windows(samples_per_second=100, clock=clock)
    for _ in range(100):
        windows.add(FN, ok(ms=1000.0), LIVE)  # the first 100 of the second are slow...
    for _ in range(900):
        windows.add(FN, ok(ms=1.0), LIVE)  # ...the other 900 are fast
    seen = windows.window(FN, "2", T0)
    assert seen.invocations == 1000
    # a uniform sample holds about 10 slow ones in 100: the median is fast (keeping the first 100
    # durations would make it 1000 ms)
    assert seen.p50_ms == 1.0


def test_rate_is_live_invocations_per_second_over_the_span_and_the_worst_p90(
    windows: Windows, clock: Clock
) -> None:
    for _ in range(100):
        windows.add(FN, ok("1", ms=10.0), LIVE)  # before the span
    clock.advance(30)
    for second in range(10):
        for _ in range(20):
            windows.add(FN, ok("1", ms=10.0), LIVE)
        for _ in range(10):
            windows.add(FN, ok("2", ms=50.0), LIVE)
        windows.add(FN, ok("2", ms=50.0), SHADOW)  # mirrored calls are not the alias's rate
        if second < 9:
            clock.advance(1)

    per_second, p90 = windows.rate(FN, ["1", "2"], span_s=10)
    assert per_second == pytest.approx(300 / 10)
    assert p90 == 50.0
    one_rate, one_p90 = windows.rate(FN, ["1"], span_s=10)
    assert one_rate == pytest.approx(20.0) and one_p90 == 10.0
    assert windows.rate(FN, ["9"], span_s=10) == (0.0, None)


def test_rate_of_traffic_younger_than_the_span_is_averaged_over_the_time_it_has_flowed() -> None:
    clock = Clock(1_000.0)
    windows = Windows(clock=clock)
    for _ in range(4):  # 4 seconds of 200 calls per second, measured over a 30 s span
        for _ in range(200):
            windows.add("fn", Outcome("1", duration_ms=1.0), "live")
        clock.now += 1.0
    rate, _ = windows.rate("fn", ["1"], 30)
    assert rate == pytest.approx(200, rel=0.01)
