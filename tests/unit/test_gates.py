"""Health gates: windows, gate verdicts and the statistical test behind them (pure, no clock)."""

from __future__ import annotations

import doctest
import math

import pytest

from turnout.domain import gates as gates_module
from turnout.domain.gates import (
    Check,
    GateResult,
    Gates,
    Metrics,
    Verdict,
    Window,
    binomial_tail,
    evaluate,
    increase_p_value,
    overall,
)
from turnout.errors import InvalidInput

ALPHA = 0.01


def test_worked_examples_hold() -> None:
    assert doctest.testmod(gates_module).failed == 0


def verdicts(gates: Gates, metrics: Metrics, *, relative: bool = True) -> dict[str, Verdict]:
    return {r.gate: r.verdict for r in evaluate(gates, metrics, relative=relative)}


def test_a_window_counts_errors_of_every_code() -> None:
    window = Window(400, {"Function.Timeout": 6, "Function.Crashed": 2}, p99_ms=120)
    assert window.error_count == 8 and window.error_rate == 0.02
    assert Window().error_rate == 0.0


def test_one_point_two_percent_against_one_percent_on_50_samples_is_not_significant() -> None:
    assert increase_p_value(0.012, 50, 0.01, 50) > ALPHA


def test_twenty_percent_against_one_percent_on_200_samples_is_significant() -> None:
    assert increase_p_value(0.20, 200, 0.01, 200) < ALPHA


def test_the_worked_example_of_the_two_proportion_test() -> None:
    assert increase_p_value(0.20, 200, 0.01, 200) == pytest.approx(9.71e-11, rel=0.01)
    assert increase_p_value(0.012, 50, 0.01, 50) == pytest.approx(0.477, abs=0.001)


def test_a_margin_makes_the_relative_test_more_lenient() -> None:
    strict = increase_p_value(0.05, 400, 0.01, 4000)
    lenient = increase_p_value(0.05, 400, 0.01, 4000, margin=0.03)
    assert strict < ALPHA < lenient


@pytest.mark.parametrize(("k", "n", "p"), [(4, 100, 0.01), (12, 100, 0.05), (1, 50, 0.01), (30, 1000, 0.02)])
def test_the_exact_binomial_tail_matches_the_sum_of_the_binomial_terms(k: int, n: int, p: float) -> None:
    expected = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
    assert binomial_tail(k, n, p) == pytest.approx(expected, rel=1e-9)


def test_the_binomial_tail_edges() -> None:
    assert binomial_tail(0, 10, 0.1) == 1.0 and binomial_tail(11, 10, 0.1) == 0.0
    assert binomial_tail(1, 10, 0.0) == 0.0


def test_relative_error_gate_on_windows_fails_on_one_percent_against_twenty() -> None:
    gates = Gates(max_error_rate_increase=0.0, min_invocations=50)
    metrics = Metrics(baseline=Window(200, {"E": 2}), candidate=Window(200, {"E": 40}))
    assert verdicts(gates, metrics) == {"relative_error_rate": Verdict.FAIL}


def test_relative_error_gate_on_a_small_sample_neither_fails_nor_passes_a_worse_looking_rate() -> None:
    gates = Gates(max_error_rate_increase=0.0, min_invocations=50)
    metrics = Metrics(baseline=Window(5000, {"E": 50}), candidate=Window(50, {"E": 1}))
    assert verdicts(gates, metrics) == {"relative_error_rate": Verdict.PENDING}


def test_relative_error_gate_passes_within_the_margin() -> None:
    gates = Gates(max_error_rate_increase=0.01, min_invocations=100)
    metrics = Metrics(baseline=Window(1000, {"E": 10}), candidate=Window(200, {"E": 3}))
    assert verdicts(gates, metrics) == {"relative_error_rate": Verdict.PASS}


def test_relative_gates_wait_for_the_baseline_sample_too() -> None:
    gates = Gates(max_error_rate_increase=0.01, max_p99_ratio=1.5, min_invocations=100)
    metrics = Metrics(baseline=Window(30, p99_ms=100), candidate=Window(500, p99_ms=100))
    assert set(verdicts(gates, metrics).values()) == {Verdict.PENDING}


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (Window(99, {"E": 99}), Verdict.PENDING),  # below the minimum sample: cannot judge
        (Window(100, {"E": 5}), Verdict.PASS),  # at the limit
        (Window(100, {"E": 7}), Verdict.PENDING),  # above it, not significant (p = 0.23)
        (Window(100, {"E": 12}), Verdict.FAIL),  # above it, significant (p = 0.0043)
    ],
)
def test_absolute_error_rate_gate(candidate: Window, expected: Verdict) -> None:
    gates = Gates(max_error_rate=0.05, min_invocations=100)
    assert verdicts(gates, Metrics(candidate=candidate)) == {"error_rate": expected}


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (Window(50, p99_ms=900), Verdict.PENDING),
        (Window(100), Verdict.PENDING),
        (Window(100, p99_ms=500), Verdict.PASS),
        (Window(100, p99_ms=501), Verdict.FAIL),
    ],
)
def test_absolute_p99_gate(candidate: Window, expected: Verdict) -> None:
    gates = Gates(max_p99_ms=500, min_invocations=100)
    assert verdicts(gates, Metrics(candidate=candidate)) == {"p99": expected}


@pytest.mark.parametrize(("p99", "expected"), [(150.0, Verdict.PASS), (151.0, Verdict.FAIL)])
def test_relative_p99_gate_compares_with_the_baseline_over_the_same_window(
    p99: float, expected: Verdict
) -> None:
    gates = Gates(max_p99_ratio=1.5, min_invocations=100)
    metrics = Metrics(baseline=Window(1000, p99_ms=100), candidate=Window(100, p99_ms=p99))
    assert verdicts(gates, metrics) == {"relative_p99": expected}


def test_relative_gates_can_be_left_out_when_the_baseline_gets_no_traffic() -> None:
    gates = Gates(max_error_rate=0.05, max_error_rate_increase=0.0, max_p99_ratio=1.2)
    assert set(verdicts(gates, Metrics(), relative=False)) == {"error_rate"}


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (None, Verdict.PENDING),
        (Check(Verdict.PENDING), Verdict.PENDING),
        (Check(Verdict.PASS), Verdict.PASS),
        (Check(Verdict.FAIL, "checkout broken"), Verdict.FAIL),
    ],
)
def test_custom_gate_reports_what_the_controller_passed_in(check: Check | None, expected: Verdict) -> None:
    (result,) = evaluate(Gates(custom="smoke"), Metrics(custom=check))
    assert result.gate == "custom:smoke" and result.verdict is expected
    if check is not None and check.message:
        assert check.message in result.reason


def test_overall_verdict_fails_first_then_waits_then_passes() -> None:
    def results(*vs: Verdict) -> list[GateResult]:
        return [GateResult(str(i), v, "") for i, v in enumerate(vs)]

    assert overall(results(Verdict.PASS, Verdict.PENDING, Verdict.FAIL)) is Verdict.FAIL
    assert overall(results(Verdict.PASS, Verdict.PENDING)) is Verdict.PENDING
    assert overall(results(Verdict.PASS)) is Verdict.PASS and overall([]) is Verdict.PASS


@pytest.mark.parametrize(
    "bad",
    [
        {"max_error_rate": 1.5},
        {"max_p99_ms": 0},
        {"max_p99_ratio": -1},
        {"min_invocations": 0},
        {"alpha": 0.7},
    ],
)
def test_nonsense_limits_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        Gates(**bad)  # type: ignore[arg-type]


def test_gates_round_trip_through_json() -> None:
    gates = Gates(max_error_rate=0.02, max_p99_ms=800, max_error_rate_increase=0.01, custom="smoke")
    assert Gates.from_json(gates.to_json()) == gates
