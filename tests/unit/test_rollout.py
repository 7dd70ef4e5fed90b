"""Rollouts: the state machine, strategies and each tick's decision, with explicit clock values."""

from __future__ import annotations

import doctest
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from turnout.domain import rollout as rollout_module
from turnout.domain import strategy as strategy_module
from turnout.domain.gates import Check, Gates, Metrics, Verdict, Window
from turnout.domain.rollout import (
    TERMINAL,
    TRANSITIONS,
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
    transition,
)
from turnout.domain.routing import Routing
from turnout.domain.strategy import (
    PRESETS,
    Kind,
    Step,
    Strategy,
    all_at_once,
    blue_green,
    canary,
    explicit,
    linear,
    preset,
)
from turnout.errors import InvalidAliasTarget, InvalidRolloutTransition, InvalidStrategy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HEALTHY = Metrics(
    baseline=Window(2000, {"Function.Timeout": 20}, p50_ms=20, p90_ms=60, p99_ms=100),
    candidate=Window(300, {"Function.Timeout": 3}, p50_ms=20, p90_ms=60, p99_ms=110),
)
GATES = Gates(max_error_rate=0.05, max_p99_ms=500, max_error_rate_increase=0.01, max_p99_ratio=1.5)
POLICY = Policy(GATES, max_hold_s=600)
BASELINE, CANDIDATE = Routing.single(1), Routing.single(2)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tick(
    rollout: Rollout | Decision,
    seconds: float,
    metrics: Metrics = HEALTHY,
    policy: Policy = POLICY,
    **hooks: Check,
) -> Decision:
    current = rollout.rollout if isinstance(rollout, Decision) else rollout
    return decide(current, metrics, policy, at(seconds), **hooks)


def baking_canary(policy: Policy = POLICY) -> Rollout:
    """A canary(10%, 300s) whose first step began baking at t=1."""
    stepped = tick(start("prod", 1, 2, canary(1000, 300), T0), 0, policy=policy)
    baking = tick(stepped, 1, policy=policy)
    assert baking.state is State.BAKING and baking.rollout.step_started_at == at(1)
    return baking.rollout


def walk(rollout: Rollout, seconds: range, **kw: object) -> list[Decision]:
    decisions = []
    for second in seconds:
        decision = tick(rollout, second, **kw)  # type: ignore[arg-type]
        decisions.append(decision)
        rollout = decision.rollout
    return decisions


def weights(decision: Decision) -> dict[int, int] | None:
    return decision.weights_bp


@pytest.mark.parametrize("module", [rollout_module, strategy_module])
def test_worked_examples_hold(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


# --- the state machine ----------------------------------------------------------------------------


def test_the_table_covers_every_state_and_terminal_states_go_nowhere() -> None:
    assert set(TRANSITIONS) == set(State)
    assert {State.SUCCEEDED, State.ROLLED_BACK, State.FAILED, State.ABORTED} == TERMINAL


@pytest.mark.parametrize(("current", "target"), [(c, t) for c, ts in TRANSITIONS.items() for t in ts])
def test_every_legal_transition_succeeds(current: State, target: State) -> None:
    assert transition(current, target) is target


ILLEGAL = [
    (State.PENDING, State.BAKING),
    (State.PENDING, State.SUCCEEDED),
    (State.PRE_HOOK, State.BAKING),
    (State.STEPPING, State.SUCCEEDED),
    (State.BAKING, State.PRE_HOOK),
    (State.POST_HOOK, State.STEPPING),
    (State.PAUSED, State.PAUSED),
    (State.PAUSED, State.SUCCEEDED),
    (State.ROLLING_BACK, State.STEPPING),
    (State.ROLLING_BACK, State.SUCCEEDED),
    *[(t, s) for t, s in itertools.product(sorted(TERMINAL), [State.ROLLING_BACK, State.PAUSED])],
]


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transitions_raise(current: State, target: State) -> None:
    with pytest.raises(InvalidRolloutTransition):
        transition(current, target)


@pytest.mark.parametrize("state", sorted(set(State) - TERMINAL - {State.ROLLING_BACK}))
def test_abort_works_from_every_non_terminal_state(state: State) -> None:
    assert transition(state, State.ROLLING_BACK) is State.ROLLING_BACK
    assert transition(State.ROLLING_BACK, State.ABORTED) is State.ABORTED


# --- strategies --------------------------------------------------------------------------------------


def test_all_at_once_is_one_full_step_without_bake() -> None:
    assert all_at_once().steps == (Step(10000, 0),)


def test_canary_is_one_step_then_a_bake_then_all() -> None:
    assert canary(1000, 300).steps == (Step(1000, 300), Step(10000, 0))


def test_linear_grows_by_its_step_every_interval() -> None:
    assert linear(2500, 120).steps == (Step(2500, 120), Step(5000, 120), Step(7500, 120), Step(10000, 0))
    assert linear(3000, 60).steps[-2:] == (Step(9000, 60), Step(10000, 0))


def test_explicit_steps_end_at_100_percent() -> None:
    assert explicit([(100, 60), (5000, 600)]).steps == (Step(100, 60), Step(5000, 600), Step(10000, 0))
    assert explicit([(2000, 60), (10000, 900)]).steps == (Step(2000, 60), Step(10000, 900))


def test_blue_green_is_one_full_step_with_a_bake_flagged_to_warm_first() -> None:
    strategy = blue_green(900)
    assert strategy.steps == (Step(10000, 900),) and strategy.blue_green
    assert not canary(1000, 60).blue_green


TEN_PERCENT_LINEAR = tuple(Step(bp, 0) for bp in range(1000, 10001, 1000))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AllAtOnce", (Step(10000, 0),)),
        ("Canary10Percent5Minutes", (Step(1000, 300), Step(10000, 0))),
        ("Canary10Percent10Minutes", (Step(1000, 600), Step(10000, 0))),
        ("Canary10Percent15Minutes", (Step(1000, 900), Step(10000, 0))),
        ("Canary10Percent30Minutes", (Step(1000, 1800), Step(10000, 0))),
        *[
            (
                name,
                tuple(
                    Step(s.weight_bp, 0 if s.weight_bp == 10000 else minutes * 60) for s in TEN_PERCENT_LINEAR
                ),
            )
            for name, minutes in [
                ("Linear10PercentEvery1Minute", 1),
                ("Linear10PercentEvery2Minutes", 2),
                ("Linear10PercentEvery3Minutes", 3),
                ("Linear10PercentEvery10Minutes", 10),
            ]
        ],
    ],
)
def test_codedeploy_presets_expand_to_their_steps(name: str, expected: tuple[Step, ...]) -> None:
    strategy = preset(name)
    assert strategy.steps == expected and strategy.name == name
    assert preset(f"CodeDeployDefault.Lambda{name}").steps == expected
    assert preset(f"Lambda{name}").steps == expected


def test_every_preset_is_listed_and_grows_strictly_for_sticky_keys() -> None:
    assert len(PRESETS) == 9
    for name in PRESETS:
        grown = [s.weight_bp for s in preset(name).steps]
        assert grown == sorted(set(grown)) and grown[-1] == 10000


@pytest.mark.parametrize(
    "make",
    [
        lambda: preset("Canary10PercentSoon"),
        lambda: canary(0, 60),
        lambda: canary(10000, 60),
        lambda: linear(0, 60),
        lambda: explicit([(5000, 60), (2000, 60)]),
        lambda: explicit([(5000, 60), (5000, 60)]),
        lambda: explicit([(2000, -1)]),
        lambda: Strategy(Kind.STEPS, ()),
    ],
)
def test_strategies_that_make_no_sense_are_refused(make: object) -> None:
    with pytest.raises(InvalidStrategy):
        make()  # type: ignore[operator]


def test_a_strategy_round_trips_through_json() -> None:
    for strategy in (preset("Linear10PercentEvery3Minutes"), blue_green(60), explicit([(500, 30)])):
        assert Strategy.from_json(json.loads(json.dumps(strategy.to_json()))) == strategy


def test_a_rollout_moves_between_two_different_versions() -> None:
    with pytest.raises(InvalidAliasTarget):
        start("prod", 3, 3, canary(1000, 60), T0)


# --- decide(): healthy walks -------------------------------------------------------------------------


def test_a_healthy_canary_walks_to_success_step_by_step() -> None:
    rollout = start("prod", 1, 2, canary(1000, 300), T0)
    d = tick(rollout, 0)
    assert (d.action, d.state, weights(d)) == (Action.SET_WEIGHTS, State.STEPPING, {1: 9000, 2: 1000})
    d = tick(d, 1)
    assert (d.action, d.state, d.routing) == (Action.HOLD, State.BAKING, None)
    d = tick(d, 150)
    assert (d.action, d.state, d.figures["bake_left_s"]) == (Action.HOLD, State.BAKING, 151)
    d = tick(d, 301)
    assert (d.action, d.state, d.routing) == (Action.PROMOTE, State.STEPPING, CANDIDATE)
    d = tick(d, 302)
    assert (d.action, d.state) == (Action.HOLD, State.BAKING)
    d = tick(d, 303)
    assert (d.action, d.state) == (Action.FINISH, State.SUCCEEDED)
    again = tick(d, 304)
    assert (again.action, again.state, again.rollout.history) == (
        Action.FINISH,
        State.SUCCEEDED,
        d.rollout.history,
    )


def test_a_healthy_linear_rollout_walks_every_step_with_growing_weights() -> None:
    decisions = walk(start("prod", 1, 2, linear(2500, 60), T0), range(0, 400, 5))
    moves = [d for d in decisions if d.routing is not None]
    assert [d.action for d in moves] == [Action.SET_WEIGHTS] * 3 + [Action.PROMOTE]
    assert [weights(d) for d in moves] == [
        {1: 7500, 2: 2500},
        {1: 5000, 2: 5000},
        {1: 2500, 2: 7500},
        {2: 10000},
    ]
    assert decisions[-1].state is State.SUCCEEDED
    assert all(d.state is State.SUCCEEDED for d in decisions[decisions.index(moves[-1]) + 3 :])


def test_history_records_changes_not_every_tick() -> None:
    decisions = walk(start("prod", 1, 2, canary(1000, 300), T0), range(0, 400))
    history = decisions[-1].rollout.history
    assert [r.action for r in history] == [
        Action.SET_WEIGHTS,
        Action.HOLD,
        Action.PROMOTE,
        Action.HOLD,
        Action.FINISH,
    ]
    assert history[0].routing == Routing.from_percentages({1: 90, 2: 10})


def test_all_at_once_does_not_wait_to_judge_a_step_without_bake() -> None:
    decisions = walk(start("prod", 1, 2, all_at_once(), T0), range(3), metrics=Metrics())
    assert [d.action for d in decisions] == [Action.PROMOTE, Action.HOLD, Action.FINISH]
    assert decisions[-1].state is State.SUCCEEDED


def test_blue_green_switches_at_once_and_bakes_on_absolute_gates_only() -> None:
    no_baseline_traffic = Metrics(baseline=Window(), candidate=HEALTHY.candidate)
    decisions = walk(start("prod", 1, 2, blue_green(600), T0), range(0, 700, 10), metrics=no_baseline_traffic)
    assert decisions[0].routing == CANDIDATE and decisions[0].action is Action.PROMOTE
    assert decisions[-1].state is State.SUCCEEDED
    failing = Metrics(candidate=Window(300, {"Function.Crashed": 60}))
    back = walk(decisions[0].rollout, range(1, 100, 10), metrics=failing)
    assert back[1].action is Action.ROLL_BACK and back[1].routing == BASELINE


# --- decide(): gates ---------------------------------------------------------------------------------

FAILING = {
    "error_rate": Metrics(baseline=Window(2000), candidate=Window(300, {"Function.Crashed": 45})),
    "p99": Metrics(baseline=Window(2000, p99_ms=100), candidate=Window(300, p99_ms=900)),
    "relative_error_rate": Metrics(baseline=Window(200, {"E": 2}), candidate=Window(200, {"E": 40})),
    "relative_p99": Metrics(baseline=Window(2000, p99_ms=100), candidate=Window(300, p99_ms=200)),
    "custom:smoke": Metrics(custom=Check(Verdict.FAIL, "checkout broken")),
}
ONLY = {
    "error_rate": Gates(max_error_rate=0.05),
    "p99": Gates(max_p99_ms=500),
    "relative_error_rate": Gates(max_error_rate_increase=0.0),
    "relative_p99": Gates(max_p99_ratio=1.5),
    "custom:smoke": Gates(custom="smoke"),
}


@pytest.mark.parametrize("gate", list(FAILING))
def test_each_failing_gate_rolls_back_during_the_bake(gate: str) -> None:
    policy = Policy(ONLY[gate])
    d = tick(baking_canary(policy), 30, FAILING[gate], policy)
    assert (d.action, d.state, d.routing) == (Action.ROLL_BACK, State.ROLLING_BACK, BASELINE)
    assert gate in d.reason
    done = tick(d, 31, FAILING[gate], policy)
    assert (done.action, done.state, done.routing) == (Action.FINISH, State.ROLLED_BACK, None)


def test_one_percent_against_twenty_percent_on_200_samples_rolls_back() -> None:
    policy = Policy(Gates(max_error_rate_increase=0.0, min_invocations=50))
    metrics = Metrics(baseline=Window(200, {"E": 2}), candidate=Window(200, {"E": 40}))
    assert tick(baking_canary(policy), 30, metrics, policy).action is Action.ROLL_BACK


def test_a_slightly_worse_rate_on_50_samples_neither_rolls_back_nor_promotes() -> None:
    policy = Policy(Gates(max_error_rate_increase=0.0, min_invocations=50), max_hold_s=600)
    metrics = Metrics(baseline=Window(5000, {"E": 50}), candidate=Window(50, {"E": 1}))
    rollout = baking_canary(policy)
    assert tick(rollout, 30, metrics, policy).action is Action.HOLD
    after_bake = tick(rollout, 400, metrics, policy)
    assert (after_bake.action, after_bake.state, after_bake.routing) == (Action.HOLD, State.BAKING, None)


def test_too_few_invocations_hold_the_step_past_its_bake_then_advance_once_judged() -> None:
    few = Metrics(baseline=HEALTHY.baseline, candidate=Window(40, p99_ms=100))
    held = tick(baking_canary(), 301, few)
    assert (held.action, held.state, held.rollout.held_since) == (Action.HOLD, State.BAKING, at(301))
    assert "40/100" in held.reason
    still = tick(held, 800, few)
    assert still.action is Action.HOLD and still.figures["held_s"] == 499
    assert tick(still, 801).action is Action.PROMOTE


def test_a_step_that_cannot_judge_rolls_back_after_the_max_hold() -> None:
    few = Metrics(candidate=Window(40))
    held = tick(baking_canary(), 301, few)
    assert tick(held, 900, few).action is Action.HOLD
    gave_up = tick(held, 901, few)
    assert (gave_up.action, gave_up.routing) == (Action.ROLL_BACK, BASELINE)
    assert "cannot judge" in gave_up.reason


# --- operator commands -------------------------------------------------------------------------------


def test_pause_and_resume_keep_the_bake_time_left() -> None:
    paused = pause(tick(baking_canary(), 101).rollout, at(101))
    assert (paused.state, paused.rollout.paused_from) == (State.PAUSED, State.BAKING)
    assert tick(paused, 5000).action is Action.HOLD and tick(paused, 5000).state is State.PAUSED
    resumed = resume(paused.rollout, at(5001))
    assert resumed.state is State.BAKING and resumed.rollout.bake_left_s(at(5001)) == 200
    assert tick(resumed, 5200).action is Action.HOLD
    assert tick(resumed, 5201).action is Action.PROMOTE


def test_a_failing_gate_still_rolls_back_while_paused() -> None:
    paused = pause(baking_canary(), at(10))
    d = tick(paused, 20, FAILING["error_rate"])
    assert (d.action, d.state, d.routing) == (Action.ROLL_BACK, State.ROLLING_BACK, BASELINE)


def test_pause_and_resume_refuse_what_makes_no_sense() -> None:
    paused = pause(baking_canary(), at(10)).rollout
    with pytest.raises(InvalidRolloutTransition):
        pause(paused, at(11))
    with pytest.raises(InvalidRolloutTransition):
        resume(baking_canary(), at(11))


def test_abort_rolls_back_then_ends_aborted() -> None:
    d = abort(baking_canary(), at(50))
    assert (d.action, d.state, d.routing) == (Action.ROLL_BACK, State.ROLLING_BACK, BASELINE)
    done = tick(d, 51)
    assert (done.action, done.state) == (Action.FINISH, State.ABORTED)


def test_abort_before_any_traffic_moved_leaves_the_alias_alone() -> None:
    d = abort(start("prod", 1, 2, canary(1000, 60), T0), at(1))
    assert d.routing is None and tick(d, 2).state is State.ABORTED


def test_abort_is_refused_once_over_or_already_rolling_back() -> None:
    rolling = abort(baking_canary(), at(50)).rollout
    with pytest.raises(InvalidRolloutTransition):
        abort(rolling, at(51))
    with pytest.raises(InvalidRolloutTransition):
        abort(tick(rolling, 52).rollout, at(53))


def test_promote_skips_the_remaining_steps_of_a_baking_rollout() -> None:
    d = promote(baking_canary(), POLICY, at(20))
    assert (d.action, d.state, d.routing) == (Action.PROMOTE, State.STEPPING, CANDIDATE)
    with pytest.raises(InvalidRolloutTransition):
        promote(d.rollout, POLICY, at(21))


# --- hooks -------------------------------------------------------------------------------------------

HOOKED = Policy(GATES, pre_hook="smoke", post_hook="verify", hook_timeout_s=120)


def test_a_failing_pre_traffic_hook_never_sets_weights() -> None:
    first = tick(start("prod", 1, 2, canary(1000, 60), T0), 0, policy=HOOKED)
    assert (first.action, first.state) == (Action.RUN_PRE_HOOK, State.PRE_HOOK)
    waiting = tick(first, 5, policy=HOOKED)
    assert waiting.action is Action.RUN_PRE_HOOK and waiting.rollout.history == first.rollout.history
    failed = tick(waiting, 10, policy=HOOKED, pre_hook=Check(Verdict.FAIL, "500 on /health"))
    assert (failed.action, failed.state, failed.routing) == (Action.FINISH, State.FAILED, None)
    assert "500 on /health" in failed.reason
    assert all(r.routing is None for r in failed.rollout.history)


def test_a_pre_traffic_hook_that_never_reports_fails_the_rollout() -> None:
    first = tick(start("prod", 1, 2, canary(1000, 60), T0), 0, policy=HOOKED)
    assert tick(first, 119, policy=HOOKED).state is State.PRE_HOOK
    timed_out = tick(first, 120, policy=HOOKED)
    assert (timed_out.state, timed_out.routing) == (State.FAILED, None)


def test_a_passing_pre_traffic_hook_starts_the_first_step() -> None:
    first = tick(start("prod", 1, 2, canary(1000, 60), T0), 0, policy=HOOKED)
    d = tick(first, 3, policy=HOOKED, pre_hook=Check(Verdict.PASS))
    assert (d.action, weights(d)) == (Action.SET_WEIGHTS, {1: 9000, 2: 1000})


def at_full_traffic() -> Decision:
    first = tick(start("prod", 1, 2, canary(1000, 60), T0), 0, policy=HOOKED)
    decisions = walk(first.rollout, range(1, 100), policy=HOOKED, pre_hook=Check(Verdict.PASS))
    d = next(d for d in decisions if d.state is State.POST_HOOK)
    assert d.action is Action.RUN_POST_HOOK
    return d


def test_a_failing_post_traffic_hook_after_100_percent_rolls_back() -> None:
    post = at_full_traffic()
    d = tick(post, 200, policy=HOOKED, post_hook=Check(Verdict.FAIL, "orders missing"))
    assert (d.action, d.state, d.routing) == (Action.ROLL_BACK, State.ROLLING_BACK, BASELINE)
    assert tick(d, 201, policy=HOOKED).state is State.ROLLED_BACK


def test_a_passing_post_traffic_hook_finishes_and_a_silent_one_rolls_back() -> None:
    post = at_full_traffic()
    assert tick(post, 200, policy=HOOKED, post_hook=Check(Verdict.PASS)).state is State.SUCCEEDED
    started = post.rollout.state_since.timestamp() - T0.timestamp()
    assert tick(post, started + 120, policy=HOOKED).action is Action.ROLL_BACK


# --- persistence and restarts ------------------------------------------------------------------------


def roundtrip(rollout: Rollout) -> Rollout:
    return Rollout.from_json(json.loads(json.dumps(rollout.to_json())))


def test_a_rollout_round_trips_through_json_with_its_history() -> None:
    decisions = walk(start("prod", 1, 2, linear(2500, 60), T0), range(0, 90, 3))
    held = tick(decisions[-1], 200, Metrics(candidate=Window(3)))
    paused = pause(held.rollout, at(201)).rollout
    assert paused.history and paused.held_since and paused.paused_from
    assert roundtrip(paused) == paused


def test_a_policy_round_trips_through_json() -> None:
    assert Policy.from_json(json.loads(json.dumps(HOOKED.to_json()))) == HOOKED


def test_after_a_restart_the_bake_continues_from_the_persisted_step_start() -> None:
    restored = roundtrip(baking_canary())
    lost = Metrics()
    d = tick(restored, 200, lost)
    assert (d.action, d.figures["bake_left_s"]) == (Action.HOLD, 101)
    held = tick(d, 301, lost)
    assert held.action is Action.HOLD and held.rollout.held_since == at(301)
    assert tick(roundtrip(held.rollout), 400).action is Action.PROMOTE
    assert tick(roundtrip(held.rollout), 901, lost).action is Action.ROLL_BACK
