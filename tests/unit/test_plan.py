"""A rollout's plan (hooks, shadow traffic, window), strategies by name, and the API body -> request.

All pure: no server, no store.
"""

from __future__ import annotations

import doctest
import json
from typing import Any

import pytest

from turnout.api.rollouts import DEFAULT_GATES, rollout_request
from turnout.api.schemas import RolloutBody
from turnout.domain import plan as plan_module
from turnout.domain.gates import Gates
from turnout.domain.plan import MAX_HOOK_EVENT_BYTES, MAX_HOOK_EVENTS, Hook, Plan, Shadow
from turnout.domain.rollout import Policy
from turnout.domain.strategy import (
    Kind,
    Step,
    all_at_once,
    blue_green,
    build,
    canary,
    explicit,
    linear,
    preset,
)
from turnout.errors import InvalidInput, InvalidName, InvalidStrategy
from turnout.services.rollouts import RolloutRequest


def test_worked_examples_hold() -> None:
    assert doctest.testmod(plan_module).failed == 0


# --- hooks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Hook(),
        lambda: Hook(events=({"n": 1},), function="checks"),
        lambda: Hook(events=(), function=""),
    ],
)
def test_a_hook_has_exactly_one_of_events_or_a_function(make: Any) -> None:
    with pytest.raises(InvalidInput, match="either test events or a validator function"):
        make()


def test_a_hook_names_itself_by_its_function_or_its_events() -> None:
    assert Hook(function="checks:prod").name == "checks:prod"
    assert Hook(events=({"n": 1},)).name == "1 test event"
    assert Hook(events=({"n": 1}, {"n": 2})).name == "2 test events"


def test_a_hook_has_at_most_so_many_events_of_so_many_bytes() -> None:
    assert len(Hook(events=tuple({"n": i} for i in range(MAX_HOOK_EVENTS))).events) == MAX_HOOK_EVENTS
    with pytest.raises(InvalidInput, match=f"at most {MAX_HOOK_EVENTS} test events"):
        Hook(events=tuple({"n": i} for i in range(MAX_HOOK_EVENTS + 1)))
    with pytest.raises(InvalidInput, match="bytes of JSON"):
        Hook(events=({"blob": "x" * MAX_HOOK_EVENT_BYTES},))


@pytest.mark.parametrize("reference", ["Bad Name!", "checks:0", "checks:not a qualifier!"])
def test_a_hook_function_must_be_a_valid_reference(reference: str) -> None:
    with pytest.raises(InvalidInput):
        Hook(function=reference)


def test_hook_events_from_json_must_be_a_list() -> None:
    assert Hook.from_json(None) is None
    assert Hook.from_json({"events": [{"n": 1}]}) == Hook(events=({"n": 1},))
    with pytest.raises(InvalidInput):
        Hook.from_json({"events": "not a list"})


# --- the plan ------------------------------------------------------------------------------------


@pytest.mark.parametrize("window_s", [5, 60, 3600])
def test_the_metrics_window_is_5_to_3600_seconds(window_s: int) -> None:
    assert Plan(window_s=window_s).window_s == window_s


@pytest.mark.parametrize("window_s", [0, 4, 3601])
def test_a_metrics_window_out_of_bounds_is_refused(window_s: int) -> None:
    with pytest.raises(InvalidInput, match="5 to 3600"):
        Plan(window_s=window_s)


@pytest.mark.parametrize("share_bp", [1, 2500, 10_000])
def test_a_shadow_share_is_above_0_and_at_most_100_percent(share_bp: int) -> None:
    assert Shadow(share_bp).share_bp == share_bp


@pytest.mark.parametrize("share_bp", [0, -100, 10_001])
def test_a_shadow_share_out_of_bounds_is_refused(share_bp: int) -> None:
    with pytest.raises(InvalidInput):
        Shadow(share_bp)


def test_a_shadow_phase_needs_both_its_share_and_its_duration() -> None:
    with pytest.raises(InvalidInput, match="both its share and its duration"):
        Plan(shadow=Shadow(1000))
    with pytest.raises(InvalidInput, match="both its share and its duration"):
        Plan(policy=Policy(shadow_s=60))
    plan = Plan(policy=Policy(shadow_s=60), shadow=Shadow(1000, compare_output=True))
    assert plan.policy.shadow_s == 60 and plan.shadow == Shadow(1000, True)


def test_a_shadow_only_policy_needs_a_shadow_phase() -> None:
    with pytest.raises(InvalidInput, match="shadow-only"):
        Policy(shadow_only=True)


def test_a_custom_gate_must_name_a_function() -> None:
    with pytest.raises(InvalidName):
        Plan(policy=Policy(Gates(custom="Not A Function")))


def test_a_plan_round_trips_through_json() -> None:
    full = Plan(
        policy=Policy(
            Gates(max_error_rate=0.02, max_p99_ratio=1.5, max_mismatch_rate=0.0, custom="judge:live"),
            pre_hook="2 test events",
            post_hook="checks:prod",
            hook_timeout_s=90,
            max_hold_s=120,
            shadow_s=300,
            shadow_only=True,
        ),
        pre_hook=Hook(events=({"n": 1}, {"nested": {"a": [1, 2]}})),
        post_hook=Hook(function="checks:prod"),
        shadow=Shadow(2500, compare_output=True),
        window_s=30,
        warm=False,
    )
    for plan in (full, Plan()):
        assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_a_stored_plan_without_window_or_warm_takes_the_defaults() -> None:
    stored = Plan().to_json()
    del stored["window_s"], stored["warm"]
    assert Plan.from_json(stored) == Plan(window_s=60, warm=True)


# --- strategies by name --------------------------------------------------------------------------


def test_each_kind_has_its_defaults() -> None:
    assert build("all-at-once") == all_at_once()
    assert build("canary") == canary(1000, 300)
    assert build("linear") == linear(1000, 60)
    assert build("blue-green") == blue_green(300)


def test_each_kind_takes_its_own_parameters() -> None:
    assert build("canary", weight_bp=2500, bake_s=60).steps == (Step(2500, 60), Step(10_000, 0))
    assert build("canary", bake_s=0) == canary(1000, 0)
    assert build("linear", step_bp=5000, interval_s=30).steps == (Step(5000, 30), Step(10_000, 0))
    assert build("blue-green", bake_s=900) == blue_green(900)
    assert build("steps", steps=[(500, 60), (5000, 600)]) == explicit([(500, 60), (5000, 600)])
    assert build("steps", steps=iter([(500, 60)])).kind is Kind.STEPS  # any iterable, read once


@pytest.mark.parametrize("name", ["AllAtOnce", "Canary10Percent5Minutes", "Linear10PercentEvery2Minutes"])
def test_a_preset_by_name(name: str) -> None:
    assert build(name) == preset(name)
    assert build(f"CodeDeployDefault.Lambda{name}").steps == preset(name).steps


@pytest.mark.parametrize(
    ("name", "params", "refused"),
    [
        ("all-at-once", {"weight_bp": 500}, "weight"),
        ("canary", {"step_bp": 500}, "step"),
        ("canary", {"interval_s": 60}, "interval_s"),
        ("linear", {"weight_bp": 500}, "weight"),
        ("linear", {"bake_s": 60}, "bake_s"),
        ("steps", {"steps": [(500, 60)], "bake_s": 60}, "bake_s"),
        ("blue-green", {"weight_bp": 500}, "weight"),
        ("Canary10Percent5Minutes", {"weight_bp": 2000}, "weight"),
        ("Canary10Percent5Minutes", {"bake_s": 60}, "bake_s"),
    ],
)
def test_parameters_the_kind_does_not_take_are_refused(
    name: str, params: dict[str, Any], refused: str
) -> None:
    with pytest.raises(InvalidStrategy, match=f"does not take {refused}"):
        build(name, **params)


@pytest.mark.parametrize("steps", [None, []])
def test_the_steps_kind_needs_its_steps(steps: list[tuple[int, int]] | None) -> None:
    with pytest.raises(InvalidStrategy, match="needs its steps"):
        build("steps", steps=steps)


@pytest.mark.parametrize("name", ["Canary", "gradual", "Canary10PercentSoon", ""])
def test_an_unknown_strategy_is_refused(name: str) -> None:
    with pytest.raises(InvalidStrategy):
        build(name)


# --- the API body -> the service's request -------------------------------------------------------


def request(**body: Any) -> RolloutRequest:
    """What POST .../rollout makes of this JSON body."""
    return rollout_request(RolloutBody.model_validate({"to": 2, **body}))


def test_a_bare_body_is_a_canary_with_the_default_gates() -> None:
    made = request()
    assert made.to == 2
    assert made.strategy == canary(1000, 300)
    assert made.plan == Plan(policy=Policy(DEFAULT_GATES))
    assert Gates(max_error_rate_increase=0.01) == DEFAULT_GATES
    assert made.plan.window_s == 60 and made.plan.warm and made.plan.shadow is None


def test_gates_that_only_tune_keep_the_default_limit() -> None:
    gates = request(gates={"min_invocations": 20, "alpha": 0.05}).plan.policy.gates
    assert gates == Gates(max_error_rate_increase=0.01, min_invocations=20, alpha=0.05)


def test_gates_that_set_a_limit_replace_the_default_one() -> None:
    gates = request(gates={"max_error_rate": 0.05, "min_invocations": 20}).plan.policy.gates
    assert gates == Gates(max_error_rate=0.05, min_invocations=20)
    assert request(gates={"custom": "judge"}).plan.policy.gates == Gates(custom="judge")


def test_no_gates_turns_every_gate_off() -> None:
    for body in ({"no_gates": True}, {"no_gates": True, "gates": {}}):
        gates = request(**body).plan.policy.gates
        assert gates == Gates(min_invocations=1)
        assert (gates.max_error_rate, gates.max_error_rate_increase, gates.max_p99_ms) == (None, None, None)


def test_no_gates_with_gates_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no_gates"):
        request(no_gates=True, gates={"max_error_rate": 0.05})
    with pytest.raises(InvalidInput, match="no_gates"):
        request(no_gates=True, gates={"min_invocations": 10})


def test_comparing_shadow_output_adds_a_zero_mismatch_gate() -> None:
    made = request(shadow={"percent": 12.5, "compare_output": True, "duration_s": 120})
    assert made.plan.policy.gates == Gates(max_error_rate_increase=0.01, max_mismatch_rate=0.0)
    assert made.plan.shadow == Shadow(1250, compare_output=True)
    assert (made.plan.policy.shadow_s, made.plan.policy.shadow_only) == (120, False)
    given = request(shadow={"percent": 50, "compare_output": True}, gates={"max_mismatch_rate": 0.1})
    assert given.plan.policy.gates.max_mismatch_rate == 0.1
    assert given.plan.policy.shadow_s == 300  # the default duration
    assert request(shadow={"percent": 50}).plan.policy.gates.max_mismatch_rate is None


def test_a_shadow_only_body_makes_a_shadow_only_policy() -> None:
    made = request(shadow={"percent": 100, "only": True, "duration_s": 60})
    assert made.plan.policy.shadow_only and made.plan.shadow == Shadow(10_000)


def test_percentages_become_basis_points() -> None:
    assert request(weight=12.5, bake_s=60).strategy == canary(1250, 60)
    assert request(strategy="linear", step=2.5, interval_s=30).strategy == linear(250, 30)
    steps = request(strategy="steps", steps=[{"weight": 0.5, "bake_s": 60}, {"weight": 50}]).strategy
    assert steps.steps == (Step(50, 60), Step(5000, 0), Step(10_000, 0))


@pytest.mark.parametrize(
    "body",
    [
        {"weight": 150},
        {"weight": 0},
        {"weight": -5},
        {"strategy": "linear", "step": 101},
        {"strategy": "steps", "steps": [{"weight": 0, "bake_s": 60}]},
        {"shadow": {"percent": 0}},
        {"shadow": {"percent": 100.5}},
    ],
)
def test_a_share_out_of_range_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="above 0% and at most 100%"):
        request(**body)


def test_a_canary_of_100_percent_is_refused() -> None:
    with pytest.raises(InvalidStrategy):
        request(weight=100)


def test_hooks_in_the_body_become_the_plans_hooks_and_the_policys_names() -> None:
    made = request(pre_hook={"events": [{"n": 1}, {"n": 2}]}, post_hook={"function": "checks:prod"})
    assert made.plan.pre_hook == Hook(events=({"n": 1}, {"n": 2}))
    assert made.plan.post_hook == Hook(function="checks:prod")
    assert (made.plan.policy.pre_hook, made.plan.policy.post_hook) == ("2 test events", "checks:prod")
    with pytest.raises(InvalidInput):
        request(pre_hook={})


def test_parameters_the_strategy_does_not_take_are_refused_from_the_body() -> None:
    with pytest.raises(InvalidStrategy, match="does not take step"):
        request(strategy="canary", step=20)
