"""The shadow phase of a rollout, sticky routing keys across steps, and the relative p99 gate's floor.

Pure decisions with explicit clock values: ``decide(rollout, metrics, policy, now)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from turnout.domain.gates import GateResult, Gates, Metrics, Verdict, Window, evaluate, evaluate_shadow
from turnout.domain.pick import pick
from turnout.domain.rollout import (
    Action,
    Decision,
    Policy,
    Rollout,
    State,
    abort,
    decide,
    pause,
    promote,
    resume,
    start,
)
from turnout.domain.routing import Routing
from turnout.domain.strategy import Strategy, canary, linear
from turnout.errors import InvalidRolloutTransition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHADOW_S = 300
GATES = Gates(max_error_rate_increase=0.01, max_mismatch_rate=0.0, min_invocations=50)
POLICY = Policy(GATES, shadow_s=SHADOW_S, max_hold_s=600)
ONLY = Policy(GATES, shadow_s=SHADOW_S, shadow_only=True, max_hold_s=600)
BASELINE_LIVE = Window(2000, {"Function.Unhandled": 20}, p50_ms=5, p90_ms=9, p99_ms=12)
# in the shadow phase the candidate has no live traffic; its mirrored calls are the ``shadow`` window
SAME = Metrics(baseline=BASELINE_LIVE, shadow=Window(400, {"Function.Unhandled": 4}, p99_ms=13), compared=396)
DIFFERENT = Metrics(baseline=BASELINE_LIVE, shadow=SAME.shadow, compared=396, mismatches=12)
TOO_FEW = Metrics(baseline=BASELINE_LIVE, shadow=Window(12, p99_ms=13), compared=12)
FIRST_STEP = Routing.from_percentages({1: 90, 2: 10})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tick(
    rollout: Rollout | Decision, seconds: float, metrics: Metrics = SAME, policy: Policy = POLICY
) -> Decision:
    current = rollout.rollout if isinstance(rollout, Decision) else rollout
    return decide(current, metrics, policy, at(seconds))


def shadowing(policy: Policy = POLICY) -> Decision:
    """A canary(10%, 60s) rollout whose shadow phase began at t=0."""
    return tick(start("prod", 1, 2, canary(1000, 60), T0), 0, policy=policy)


def never_routed(decision: Decision) -> bool:
    return decision.routing is None and all(r.routing is None for r in decision.rollout.history)


# --- the shadow phase ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [POLICY, ONLY])
def test_a_pending_rollout_with_a_shadow_phase_mirrors_before_moving_any_traffic(policy: Policy) -> None:
    d = shadowing(policy)
    assert (d.action, d.state, d.routing) == (Action.SHADOW, State.SHADOW, None)
    assert d.rollout.step == -1 and d.rollout.serving_bp == 0
    assert d.rollout.step_started_at == T0
    assert f"for {SHADOW_S}s" in d.reason


def test_the_shadow_phase_holds_while_its_time_is_not_up() -> None:
    d = tick(shadowing(), 100)
    assert (d.action, d.state, d.routing) == (Action.SHADOW, State.SHADOW, None)
    assert d.figures["shadow_left_s"] == 200
    last = tick(d, SHADOW_S - 1)
    assert (last.action, last.state, last.figures["shadow_left_s"]) == (Action.SHADOW, State.SHADOW, 1)


def test_different_answers_fail_the_shadow_phase_at_once_and_the_alias_never_moves() -> None:
    d = tick(shadowing(), 30, DIFFERENT)
    assert (d.action, d.state, d.routing) == (Action.FINISH, State.FAILED, None)
    assert "output_mismatch" in d.reason and "the alias never moved" in d.reason
    assert (d.figures["shadow.compared"], d.figures["shadow.mismatches"]) == (396, 12)
    assert never_routed(d)
    over = tick(d, 31)
    assert (over.action, over.state, over.routing) == (Action.FINISH, State.FAILED, None)


def test_a_passing_shadow_phase_goes_on_to_the_first_step() -> None:
    d = tick(tick(shadowing(), 100), SHADOW_S)
    assert (d.action, d.state, d.routing) == (Action.SET_WEIGHTS, State.STEPPING, FIRST_STEP)
    assert d.rollout.step == 0 and "shadow phase passed" in d.reason
    baking = tick(d, SHADOW_S + 1, Metrics())
    assert (baking.state, baking.rollout.step_started_at) == (State.BAKING, at(SHADOW_S + 1))


def test_a_shadow_only_rollout_succeeds_without_ever_moving_the_alias() -> None:
    d = tick(tick(shadowing(ONLY), 100, policy=ONLY), SHADOW_S, policy=ONLY)
    assert (d.action, d.state, d.routing) == (Action.FINISH, State.SUCCEEDED, None)
    assert never_routed(d) and d.rollout.serving_bp == 0
    assert tick(d, SHADOW_S + 1, policy=ONLY).state is State.SUCCEEDED


def test_a_shadow_only_rollout_fails_on_different_answers_too() -> None:
    d = tick(shadowing(ONLY), 10, DIFFERENT, ONLY)
    assert (d.state, d.routing) == (State.FAILED, None) and never_routed(d)


def test_too_small_a_shadow_sample_holds_then_fails_after_max_hold() -> None:
    held = tick(shadowing(), SHADOW_S, TOO_FEW)
    assert (held.action, held.state, held.routing) == (Action.SHADOW, State.SHADOW, None)
    assert held.rollout.held_since == at(SHADOW_S) and "12/50" in held.reason
    still = tick(held, SHADOW_S + 599, TOO_FEW)
    assert (still.action, still.state, still.figures["held_s"]) == (Action.SHADOW, State.SHADOW, 599)
    gave_up = tick(still, SHADOW_S + 600, TOO_FEW)
    assert (gave_up.action, gave_up.state, gave_up.routing) == (Action.FINISH, State.FAILED, None)
    assert "cannot judge" in gave_up.reason and "the alias never moved" in gave_up.reason
    assert never_routed(gave_up)


def test_a_held_shadow_phase_goes_on_once_the_sample_is_big_enough() -> None:
    held = tick(tick(shadowing(), SHADOW_S, TOO_FEW), SHADOW_S + 100, TOO_FEW)
    d = tick(held, SHADOW_S + 101)
    assert (d.action, d.routing) == (Action.SET_WEIGHTS, FIRST_STEP)


def test_a_shadow_phase_of_zero_seconds_does_not_wait_for_a_sample() -> None:
    policy = Policy(GATES, shadow_s=0)
    d = tick(tick(start("prod", 1, 2, canary(1000, 60), T0), 0, policy=policy), 1, TOO_FEW, policy)
    assert (d.action, d.routing) == (Action.SET_WEIGHTS, FIRST_STEP)


def test_pause_in_shadow_holds_and_resume_keeps_the_shadow_time_left() -> None:
    paused = pause(tick(shadowing(), 100).rollout, at(100))
    assert (paused.state, paused.rollout.paused_from, paused.routing) == (State.PAUSED, State.SHADOW, None)
    waiting = tick(paused, 5000)
    assert (waiting.action, waiting.state, waiting.routing) == (Action.HOLD, State.PAUSED, None)
    resumed = resume(paused.rollout, at(5000))
    assert resumed.state is State.SHADOW
    left = tick(resumed, 5199)
    assert (left.action, left.figures["shadow_left_s"]) == (Action.SHADOW, 1)
    assert tick(resumed, 5200).action is Action.SET_WEIGHTS


def test_different_answers_while_paused_in_shadow_never_move_the_alias() -> None:
    paused = pause(shadowing().rollout, at(10))
    d = tick(paused, 20, DIFFERENT)
    assert d.routing is None and d.state is State.PAUSED


def test_promote_from_shadow_skips_to_100_percent() -> None:
    d = promote(tick(shadowing(), 30).rollout, POLICY, at(31))
    assert (d.action, d.state, d.routing) == (Action.PROMOTE, State.STEPPING, Routing.single(2))
    assert d.rollout.step == len(d.rollout.strategy.steps) - 1


def test_promote_is_refused_for_a_shadow_only_rollout() -> None:
    rollout = tick(shadowing(ONLY), 30, policy=ONLY).rollout
    with pytest.raises(InvalidRolloutTransition):
        promote(rollout, ONLY, at(31))


def test_abort_from_shadow_ends_aborted_without_touching_the_alias() -> None:
    d = abort(tick(shadowing(), 30).rollout, at(31))
    assert (d.action, d.state, d.routing) == (Action.ROLL_BACK, State.ROLLING_BACK, None)
    done = tick(d, 32)
    assert (done.action, done.state, done.routing) == (Action.FINISH, State.ABORTED, None)
    assert never_routed(done)


# --- evaluate_shadow -----------------------------------------------------------------------------


def by_gate(results: tuple[GateResult, ...]) -> dict[str, Verdict]:
    return {r.gate: r.verdict for r in results}


def test_mirrored_calls_are_judged_against_the_baselines_live_window() -> None:
    gates = Gates(max_error_rate_increase=0.0, min_invocations=100)
    broken_shadow = Metrics(baseline=Window(200, {"E": 2}), shadow=Window(200, {"E": 40}))
    assert by_gate(evaluate_shadow(gates, broken_shadow)) == {"relative_error_rate": Verdict.FAIL}
    # the candidate's live window plays no part in the shadow phase
    live_only = Metrics(baseline=Window(200, {"E": 2}), candidate=Window(200, {"E": 40}), shadow=Window(200))
    assert by_gate(evaluate_shadow(gates, live_only)) == {"relative_error_rate": Verdict.PASS}
    assert by_gate(evaluate(gates, live_only)) == {"relative_error_rate": Verdict.FAIL}


def test_the_relative_gates_need_a_baseline_sample_in_the_shadow_phase_too() -> None:
    gates = Gates(max_error_rate_increase=0.0, min_invocations=100)
    quiet_baseline = Metrics(baseline=Window(30), shadow=Window(200, {"E": 40}))
    assert by_gate(evaluate_shadow(gates, quiet_baseline)) == {"relative_error_rate": Verdict.PENDING}


@pytest.mark.parametrize(
    ("limit", "compared", "mismatches", "expected"),
    [
        (0.0, 100, 0, Verdict.PASS),
        (0.0, 100, 1, Verdict.FAIL),
        (0.0, 19, 5, Verdict.PENDING),  # too few compared to judge
        (0.05, 100, 2, Verdict.PASS),
        (0.05, 100, 20, Verdict.FAIL),
    ],
)
def test_the_output_mismatch_gate(limit: float, compared: int, mismatches: int, expected: Verdict) -> None:
    gates = Gates(max_mismatch_rate=limit, min_invocations=20)
    metrics = Metrics(compared=compared, mismatches=mismatches)
    assert by_gate(evaluate_shadow(gates, metrics)) == {"output_mismatch": expected}


def test_without_a_mismatch_limit_different_answers_are_not_judged() -> None:
    metrics = Metrics(baseline=Window(200), shadow=Window(200), compared=200, mismatches=200)
    assert by_gate(evaluate_shadow(Gates(max_error_rate_increase=0.01), metrics)) == {
        "relative_error_rate": Verdict.PASS
    }


# --- sticky rollouts -----------------------------------------------------------------------------

KEYS = [f"user-{i}" for i in range(1000)]


@pytest.mark.parametrize("strategy", [linear(1000, 60), canary(1000, 300), canary(500, 60)])
def test_every_key_on_the_candidate_stays_there_at_the_next_step(strategy: Strategy) -> None:
    rollout = start("prod", 1, 2, strategy, T0)
    routings = [rollout.routing(step.weight_bp) for step in strategy.steps]
    on_candidate: set[str] = set()
    for step, routing in zip(strategy.steps, routings, strict=True):
        now_on = {key for key in KEYS if pick(routing, key, 0.99) == 2}
        assert on_candidate <= now_on, f"keys left the candidate at {step}"
        assert abs(len(now_on) / len(KEYS) - step.weight_bp / 10_000) < 0.05
        on_candidate = now_on
    assert on_candidate == set(KEYS)

    # the routing the decisions set is the one above, step for step
    decision, moves = decide(rollout, Metrics(), Policy(Gates(min_invocations=1)), T0), []
    for second in range(1, 2000):
        if decision.routing is not None:
            moves.append(decision.routing)
        if decision.state is State.SUCCEEDED:
            break
        decision = decide(decision.rollout, Metrics(), Policy(Gates(min_invocations=1)), at(second))
    assert moves == routings


def test_a_key_keeps_its_version_within_a_step_whatever_the_draw() -> None:
    routing = start("prod", 1, 2, linear(1000, 60), T0).routing(3000)
    for key in KEYS[:200]:
        assert len({pick(routing, key, draw) for draw in (0.0, 0.25, 0.5, 0.99)}) == 1


# --- the relative p99 gate's floor ---------------------------------------------------------------


def p99_verdict(gates: Gates, baseline_ms: float, candidate_ms: float) -> Verdict:
    metrics = Metrics(baseline=Window(500, p99_ms=baseline_ms), candidate=Window(500, p99_ms=candidate_ms))
    (result,) = evaluate(gates, metrics)
    assert result.gate == "relative_p99"
    return result.verdict


def test_sub_millisecond_jitter_passes_the_relative_p99_gate_by_default() -> None:
    assert p99_verdict(Gates(max_p99_ratio=2.0), 0.2, 1.2) is Verdict.PASS  # 6x, but only 1 ms more


def test_a_real_slowdown_fails_the_relative_p99_gate() -> None:
    assert p99_verdict(Gates(max_p99_ratio=2.0), 10.0, 50.0) is Verdict.FAIL
    assert p99_verdict(Gates(max_p99_ratio=2.0), 10.0, 20.0) is Verdict.PASS


@pytest.mark.parametrize(
    ("floor_ms", "baseline_ms", "candidate_ms", "expected"),
    [
        (5.0, 1.0, 6.0, Verdict.PASS),  # within the 5 ms floor though 6x
        (5.0, 1.0, 6.5, Verdict.FAIL),
        (0.0, 0.2, 1.2, Verdict.FAIL),  # no floor: the ratio alone
        (50.0, 10.0, 50.0, Verdict.PASS),
    ],
)
def test_the_floor_is_configurable(
    floor_ms: float, baseline_ms: float, candidate_ms: float, expected: Verdict
) -> None:
    gates = Gates(max_p99_ratio=2.0, min_p99_increase_ms=floor_ms)
    assert p99_verdict(gates, baseline_ms, candidate_ms) is expected


def test_a_canary_with_sub_millisecond_p99s_is_not_rolled_back() -> None:
    policy = Policy(Gates(max_p99_ratio=1.5, min_invocations=100))
    metrics = Metrics(baseline=Window(2000, p99_ms=0.2), candidate=Window(300, p99_ms=1.2))
    stepped = decide(start("prod", 1, 2, canary(1000, 60), T0), metrics, policy, T0)
    baking = decide(stepped.rollout, metrics, policy, at(1))
    assert decide(baking.rollout, metrics, policy, at(30)).action is Action.HOLD
    assert decide(baking.rollout, metrics, policy, at(61)).action is Action.PROMOTE
    slow = Metrics(baseline=Window(2000, p99_ms=10.0), candidate=Window(300, p99_ms=50.0))
    assert decide(baking.rollout, slow, policy, at(30)).action is Action.ROLL_BACK
