"""Releases: the pure rules - members checked, milestones, members deciding in step, one failure taking
every member back, and the release's state from its members'."""

from __future__ import annotations

import doctest
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from turnout.domain import release as release_module
from turnout.domain.gates import Gates, Metrics, Window
from turnout.domain.release import (
    Member,
    ReleaseState,
    check_members,
    check_release_name,
    coordinate,
    milestone,
    release_state,
)
from turnout.domain.rollout import Action, Decision, Policy, Rollout, State, abort, decide, pause, start
from turnout.domain.routing import Routing
from turnout.domain.strategy import canary, linear
from turnout.errors import InvalidInput, InvalidName

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GATES = Gates(max_error_rate=0.05, min_invocations=10)
POLICY = Policy(GATES, max_hold_s=600)
HEALTHY = Metrics(baseline=Window(100), candidate=Window(100))
FAILING = Metrics(baseline=Window(100), candidate=Window(100, {"Function.Unhandled": 50}))
QUIET = Metrics()  # nothing to judge yet: a step holds


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def members(n: int = 3, strategy: object = None) -> list[Rollout]:
    shape = strategy or canary(1000, 60)
    return [start(f"prod{i}", 1, 2, shape, T0) for i in range(n)]  # type: ignore[arg-type]


def tick(rollouts: Sequence[Rollout], metrics: Sequence[Metrics], now: datetime) -> list[Decision]:
    """One controller tick of a release: each member's own decision, then coordinated."""
    own = [decide(r, m, POLICY, now) for r, m in zip(rollouts, metrics, strict=True)]
    return coordinate(rollouts, own, now, "checkout")


def states(decisions: Sequence[Decision]) -> list[State]:
    return [d.state for d in decisions]


def test_doctests() -> None:
    assert doctest.testmod(release_module).failed == 0


@pytest.mark.parametrize("name", ["checkout", "a", "v1.2_rc-3", "x" * 64])
def test_good_release_names(name: str) -> None:
    assert check_release_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 65, "é"])
def test_bad_release_names(name: str) -> None:
    with pytest.raises(InvalidName):
        check_release_name(name)


def test_members_checked() -> None:
    good = [Member("api", "prod", 12), Member("worker", "prod", 31), Member("api", "staging", 12)]
    assert check_members(good) == tuple(good)
    with pytest.raises(InvalidInput, match="at least one"):
        check_members([])
    with pytest.raises(InvalidInput, match="api:prod is named twice"):
        check_members([Member("api", "prod", 1), Member("api", "prod", 1)])
    with pytest.raises(InvalidInput, match="published versions"):
        check_members([Member("api", "prod", 0)])
    with pytest.raises(InvalidInput, match="at most"):
        check_members([Member("api", f"a{i}", 1) for i in range(51)])


def test_milestones_order_phases_and_steps() -> None:
    r = members(1, linear(2500, 10))[0]
    first = decide(r, QUIET, POLICY, T0)  # pending -> stepping, step 0
    assert milestone(r) == (0, -1) and milestone(first.rollout) == (2, 0)
    baking = decide(first.rollout, QUIET, POLICY, at(1)).rollout
    assert milestone(baking) == milestone(first.rollout)  # stepping and baking a step: the same
    paused = pause(baking, at(2)).rollout
    assert milestone(paused) == milestone(baking)  # a paused member counts where it paused


def test_members_start_together_and_each_step_waits_for_every_member() -> None:
    rollouts = members(3)
    decisions = tick(rollouts, [QUIET] * 3, T0)
    assert states(decisions) == [State.STEPPING] * 3
    assert all(d.routing is not None and d.routing.describe() == "1 (90%), 2 (10%)" for d in decisions)
    rollouts = [d.rollout for d in decisions]
    rollouts = [d.rollout for d in tick(rollouts, [QUIET] * 3, at(1))]  # baking
    assert [r.state for r in rollouts] == [State.BAKING] * 3

    # the bake is over: two members pass, the third cannot judge yet - nobody moves on
    decisions = tick(rollouts, [HEALTHY, HEALTHY, QUIET], at(62))
    assert [d.action for d in decisions[:2]] == [Action.HOLD, Action.HOLD]
    assert all(d.routing is None for d in decisions)
    assert all(d.rollout.step == 0 for d in decisions)
    assert "waiting for the other members" in decisions[0].reason
    rollouts = [d.rollout for d in decisions]

    # the third passes too: all three promote in the same tick
    decisions = tick(rollouts, [HEALTHY] * 3, at(70))
    assert [d.action for d in decisions] == [Action.PROMOTE] * 3
    assert all(d.routing == Routing.single(2) for d in decisions)
    rollouts = [d.rollout for d in decisions]
    rollouts = [d.rollout for d in tick(rollouts, [HEALTHY] * 3, at(71))]
    decisions = tick(rollouts, [HEALTHY] * 3, at(140))
    assert states(decisions) == [State.SUCCEEDED] * 3
    assert release_state(states(decisions)) is ReleaseState.SUCCEEDED


def test_a_paused_member_holds_the_others_back() -> None:
    rollouts = [d.rollout for d in tick(members(2), [QUIET] * 2, T0)]
    rollouts = [d.rollout for d in tick(rollouts, [QUIET] * 2, at(1))]
    rollouts[1] = pause(rollouts[1], at(2)).rollout
    decisions = tick(rollouts, [HEALTHY] * 2, at(100))
    assert [d.rollout.step for d in decisions] == [0, 0]
    assert decisions[0].routing is None and decisions[1].state is State.PAUSED


def test_one_members_gate_failure_rolls_every_member_back() -> None:
    rollouts = [d.rollout for d in tick(members(3), [QUIET] * 3, T0)]
    rollouts = [d.rollout for d in tick(rollouts, [QUIET] * 3, at(1))]
    decisions = tick(rollouts, [HEALTHY, FAILING, HEALTHY], at(5))
    assert states(decisions) == [State.ROLLING_BACK] * 3
    assert all(d.action is Action.ROLL_BACK and d.routing == Routing.single(1) for d in decisions)
    assert "failed its gates" in decisions[1].reason
    assert "release checkout: prod1 of a member went back" in decisions[0].reason
    assert "the whole release rolls back" in decisions[2].reason
    assert release_state(states(decisions)) is ReleaseState.ROLLING_BACK
    final = tick([d.rollout for d in decisions], [HEALTHY] * 3, at(6))
    assert states(final) == [State.ROLLED_BACK] * 3
    assert release_state(states(final)) is ReleaseState.ROLLED_BACK


def test_an_operator_abort_of_one_member_takes_the_release_back_as_aborted() -> None:
    rollouts = [d.rollout for d in tick(members(2), [QUIET] * 2, T0)]
    rollouts[0] = abort(rollouts[0], at(3), "aborted by ops").rollout  # outside the controller's tick
    decisions = tick(rollouts, [HEALTHY] * 2, at(4))
    assert decisions[0].state is State.ABORTED  # its own rollback finishes
    assert decisions[1].state is State.ROLLING_BACK and decisions[1].routing == Routing.single(1)
    assert "aborted by ops" in decisions[1].reason
    final = tick([d.rollout for d in decisions], [HEALTHY] * 2, at(5))
    assert release_state(states(final)) is ReleaseState.ABORTED


def test_a_member_that_never_moved_is_rolled_back_without_a_routing() -> None:
    rollouts = members(2)
    rollouts[0] = abort(rollouts[0], T0).rollout  # pending, no traffic moved
    own = [decide(r, QUIET, POLICY, T0) for r in rollouts]
    decisions = coordinate(rollouts, own, T0, "r")
    assert decisions[1].state is State.ROLLING_BACK and decisions[1].routing is None


def test_coordinate_needs_one_decision_per_member() -> None:
    with pytest.raises(ValueError, match="one decision per member"):
        coordinate(members(2), [], T0, "r")


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ([], ReleaseState.PENDING),
        ([State.PENDING, State.PENDING], ReleaseState.PENDING),
        ([State.PENDING, State.STEPPING], ReleaseState.RUNNING),
        ([State.BAKING, State.PAUSED], ReleaseState.RUNNING),
        ([State.ROLLING_BACK, State.ROLLED_BACK], ReleaseState.ROLLING_BACK),
        ([State.SUCCEEDED] * 3, ReleaseState.SUCCEEDED),
        ([State.FAILED, State.ROLLED_BACK], ReleaseState.FAILED),
        ([State.ROLLED_BACK, State.ROLLED_BACK], ReleaseState.ROLLED_BACK),
        ([State.FAILED, State.FAILED], ReleaseState.FAILED),
        ([State.ABORTED, State.ROLLED_BACK], ReleaseState.ABORTED),
    ],
)
def test_release_state_from_members(found: list[State], expected: ReleaseState) -> None:
    assert release_state(found) is expected
