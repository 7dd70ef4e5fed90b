"""Rollouts in the store, through the service: one running per alias, each step moving the alias in the
same transaction as its history line, hand changes refused (or forced), leases, and starts that store
nothing when they are wrong. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import pytest

from tests.store.conftest import Kit, code
from turnout.domain.alias import AliasAction
from turnout.domain.gates import Gates, Metrics, Window
from turnout.domain.plan import Hook, Plan, Shadow
from turnout.domain.rollout import Action, Decision, Policy, State, decide, start
from turnout.domain.routing import Routing
from turnout.domain.strategy import Strategy, all_at_once, canary
from turnout.errors import (
    AliasNotFound,
    Conflict,
    FunctionNotFound,
    InvalidAliasTarget,
    InvalidInput,
    RolloutInProgress,
    RolloutNotFound,
    VersionInUse,
    VersionNotFound,
)
from turnout.services.aliases import AliasChanges
from turnout.services.rollouts import ROLLOUT_ACTOR, RolloutRequest
from turnout.store.rollouts import RolloutRecord, RolloutRows

FN = "thumbs"
JUDGE_EVERYTHING = Plan(policy=Policy(Gates(max_error_rate=0.01, min_invocations=10)))
BROKEN = Metrics(baseline=Window(1000, {"E": 1}), candidate=Window(100, {"Function.Unhandled": 50}))
FIRST_STEP = Routing.from_percentages({1: 90, 2: 10})
QUIET = Metrics()  # nothing observed: gates with a sample size cannot judge, none fails


@pytest.fixture
def three(kit: Kit) -> Kit:
    """Versions 1-3 of FN, ``prod`` on version 1."""
    for n in (1, 2, 3):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.alias(FN, "prod", 1)
    return kit


def request(to: int = 2, strategy: Strategy | None = None, plan: Plan = JUDGE_EVERYTHING) -> RolloutRequest:
    return RolloutRequest(to, strategy or canary(1000, 60), plan)


def begin(kit: Kit, alias: str = "prod", **kw: object) -> RolloutRecord:
    return kit.services.rollouts.start(FN, alias, request(**kw), "alice")  # type: ignore[arg-type]


def tick(kit: Kit, record: RolloutRecord, metrics: Metrics = QUIET) -> tuple[RolloutRecord, Decision]:
    """One controller tick: the domain's decision on the locked, current state, applied."""

    def judge(current: RolloutRecord, now: datetime) -> Decision:
        return decide(current.rollout, metrics, current.plan.policy, now)

    done = kit.services.rollouts.advance(record.id, judge)
    assert done is not None
    return done


def target(kit: Kit, alias: str = "prod") -> Routing:
    return kit.services.aliases.get(FN, alias).routing


def finish(kit: Kit, record: RolloutRecord) -> RolloutRecord:
    """Drive a rollout with healthy, empty windows until it is over, a second per tick."""
    for _ in range(1000):
        kit.clock.advance(1)
        record, decision = tick(kit, record)
        if not record.active:
            return record
    raise AssertionError(f"{record.rollout!r} did not finish")


def nothing_stored(kit: Kit, alias: str = "prod") -> bool:
    return kit.services.rollouts.history(FN, alias) == [] and kit.services.rollouts.running() == []


# --- starting -----------------------------------------------------------------------------------


def test_a_started_rollout_is_pending_and_persisted(three: Kit) -> None:
    plan = Plan(policy=Policy(Gates(max_p99_ms=250, min_invocations=20), max_hold_s=90), window_s=30)
    record = three.services.rollouts.start(FN, "prod", request(3, canary(2500, 120), plan), "alice")

    assert record.rollout.state is State.PENDING and record.active
    assert (record.rollout.baseline, record.rollout.candidate, record.rollout.step) == (1, 3, -1)
    assert (record.function, record.actor, record.created_at) == (FN, "alice", three.clock())
    stored = three.services.rollouts.current(FN, "prod")
    assert stored == record
    assert stored.plan == plan and stored.rollout.strategy == canary(2500, 120)
    assert [r.id for r in three.services.rollouts.running()] == [record.id]
    assert target(three) == Routing.single(1)  # nothing moves before the controller's first tick


def test_a_second_rollout_of_the_same_alias_is_refused_but_another_alias_may_have_its_own(
    three: Kit,
) -> None:
    three.alias(FN, "staging", 1)
    first = begin(three)
    with pytest.raises(RolloutInProgress) as caught:
        begin(three, to=3)
    assert caught.value.details["rollout"] == first.id
    assert [r.id for r in three.services.rollouts.history(FN, "prod")] == [first.id]

    other = begin(three, "staging", to=3)
    assert other.id != first.id and other.rollout.alias == "staging"
    assert {r.id for r in three.services.rollouts.running()} == {first.id, other.id}


def test_once_a_rollout_is_over_the_alias_is_free_and_history_lists_newest_first(three: Kit) -> None:
    first = begin(three, strategy=all_at_once())
    ended = finish(three, first)
    assert ended.rollout.state is State.SUCCEEDED and target(three) == Routing.single(2)
    assert three.services.rollouts.running() == []
    assert three.services.rollouts.advance(first.id, lambda r, now: pytest.fail("ticked")) is None

    three.clock.advance(10)
    second = begin(three, to=3)
    assert (second.rollout.baseline, second.rollout.candidate) == (2, 3)
    history = three.services.rollouts.history(FN, "prod")
    assert [(r.id, r.rollout.state) for r in history] == [
        (second.id, State.PENDING),
        (first.id, State.SUCCEEDED),
    ]
    assert three.services.rollouts.current(FN, "prod").id == second.id


def test_current_falls_back_to_the_latest_rollout_and_refuses_an_alias_that_never_had_one(three: Kit) -> None:
    with pytest.raises(RolloutNotFound):
        three.services.rollouts.current(FN, "prod")
    first = finish(three, begin(three, strategy=all_at_once()))
    assert three.services.rollouts.current(FN, "prod") == first


# --- applying decisions -------------------------------------------------------------------------


def test_a_set_weights_decision_moves_the_alias_with_a_rollout_history_line(three: Kit) -> None:
    record = begin(three)
    published: list[str] = []
    three.services.changes.subscribe(published.append)
    three.clock.advance(5)
    record, decision = tick(three, record)

    assert (decision.action, decision.routing) == (Action.SET_WEIGHTS, FIRST_STEP)
    assert record.rollout.state is State.STEPPING and target(three) == FIRST_STEP
    assert three.services.rollouts.current(FN, "prod").rollout == decision.rollout
    line = three.services.aliases.history(FN, "prod")[0]
    assert (line.action, line.actor, line.reason) == (AliasAction.ROLLOUT, ROLLOUT_ACTOR, decision.reason)
    assert ROLLOUT_ACTOR == "rollout"
    assert (line.before, line.after, line.at) == (Routing.single(1), FIRST_STEP, three.clock())
    assert line.details["rollout"] == record.id
    assert line.details["figures"] == {"step": 0, "candidate_bp": 1000}
    assert published == [FN]  # the routing tables hear of it

    record, decision = tick(three, record)  # stepping -> baking: no move, no history line
    assert decision.routing is None and len(three.services.aliases.history(FN, "prod")) == 2
    assert published == [FN]


def test_a_decision_and_its_alias_change_are_one_transaction(
    three: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = begin(three)

    def crash(self: RolloutRows, *args: object) -> None:
        raise RuntimeError("crash before the rollout's new state is saved")

    monkeypatch.setattr(RolloutRows, "save", crash)
    with pytest.raises(RuntimeError):
        tick(three, record)
    monkeypatch.undo()
    assert target(three) == Routing.single(1)
    assert [c.action for c in three.services.aliases.history(FN, "prod")] == [AliasAction.CREATE]
    assert three.services.rollouts.current(FN, "prod").rollout.state is State.PENDING


def test_a_roll_back_decision_gives_the_baseline_everything_back_with_the_figures(three: Kit) -> None:
    record, _ = tick(three, begin(three))
    record, _ = tick(three, record)  # baking
    three.clock.advance(10)
    record, decision = tick(three, record, BROKEN)

    assert (decision.action, record.rollout.state) == (Action.ROLL_BACK, State.ROLLING_BACK)
    assert target(three) == Routing.single(1)
    line = three.services.aliases.history(FN, "prod")[0]
    assert (line.action, line.actor) == (AliasAction.ROLLBACK, ROLLOUT_ACTOR)
    assert (line.before, line.after) == (FIRST_STEP, Routing.single(1))
    figures = line.details["figures"]
    assert isinstance(figures, dict)
    assert figures["candidate.error_rate"] == 0.5 and figures["candidate.invocations"] == 100
    assert figures["error_rate.p_value"] < 0.01
    assert "error_rate" in line.reason

    record, decision = tick(three, record)
    assert (record.rollout.state, record.active) == (State.ROLLED_BACK, False)
    assert three.services.rollouts.running() == []
    begin(three, to=3)  # the alias is free again


def test_an_operator_abort_moves_the_alias_back_as_that_operator(three: Kit) -> None:
    record, _ = tick(three, begin(three))
    aborted = three.services.rollouts.abort(FN, "prod", "bob", "looks wrong")
    assert aborted.rollout.state is State.ROLLING_BACK and target(three) == Routing.single(1)
    line = three.services.aliases.history(FN, "prod")[0]
    assert (line.action, line.actor, line.reason) == (AliasAction.ROLLBACK, "bob", "looks wrong")
    record, _ = tick(three, record)
    assert record.rollout.state is State.ABORTED
    with pytest.raises(RolloutNotFound):
        three.services.rollouts.pause(FN, "prod", "bob")


# --- hand changes to an alias a rollout is moving ------------------------------------------------


def moved_by_rollout(kit: Kit) -> RolloutRecord:
    record, _ = tick(kit, begin(kit))
    assert target(kit) == FIRST_STEP
    return record


CHANGES = {
    "put": lambda kit, force: kit.services.aliases.put(
        FN, "prod", AliasChanges(routing=Routing.single(3)), "bob", force=force
    ),
    "swap": lambda kit, force: kit.services.aliases.swap(FN, "prod", "staging", "bob", force=force),
    "rollback": lambda kit, force: kit.services.aliases.rollback(FN, "prod", "bob", to=3, force=force),
    "delete": lambda kit, force: kit.services.aliases.delete(FN, "prod", "bob", force=force),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_changing_an_alias_a_rollout_is_moving_is_refused(three: Kit, change: str) -> None:
    three.alias(FN, "staging", 3)
    record = moved_by_rollout(three)
    lines = len(three.services.aliases.history(FN, "prod"))
    with pytest.raises(RolloutInProgress) as caught:
        CHANGES[change](three, False)
    assert caught.value.details["rollout"] == record.id
    assert target(three) == FIRST_STEP and target(three, "staging") == Routing.single(3)
    assert len(three.services.aliases.history(FN, "prod")) == lines
    assert three.services.rollouts.current(FN, "prod").active


@pytest.mark.parametrize("change", list(CHANGES))
def test_forcing_a_change_applies_it_and_ends_the_rollout_aborted(three: Kit, change: str) -> None:
    three.alias(FN, "staging", 3)
    record = moved_by_rollout(three)
    three.clock.advance(3)
    CHANGES[change](three, True)

    if change == "delete":
        with pytest.raises(AliasNotFound):
            target(three)
    else:
        assert target(three) == Routing.single(3)  # the change, not the rollout's rollback
    (ended,) = three.services.rollouts.history(FN, "prod")
    assert ended.id == record.id and not ended.active
    assert ended.rollout.state is State.ABORTED
    assert "bob" in ended.rollout.history[-1].reason
    assert three.services.rollouts.running() == []
    assert three.services.rollouts.advance(record.id, lambda r, now: pytest.fail("ticked")) is None


def test_forcing_a_change_while_the_rollout_rolls_back_still_applies_it(three: Kit) -> None:
    record, _ = tick(three, begin(three))
    record, _ = tick(three, record)
    record, _ = tick(three, record, BROKEN)
    assert record.rollout.state is State.ROLLING_BACK  # until the controller's next tick
    with pytest.raises(RolloutInProgress):
        CHANGES["put"](three, False)

    CHANGES["put"](three, True)

    assert target(three) == Routing.single(3)
    assert not three.services.rollouts.current(FN, "prod").active
    assert three.services.rollouts.running() == []


def _meet(barrier: threading.Barrier) -> None:
    # a broken barrier: the other side never came, it waits for a lock this thread holds
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()


def test_a_forced_alias_change_during_a_controller_tick_does_not_fail_either(
    three: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller's tick and an operator's forced change lock the same two rows (the rollout's and
    the function's); both must go through, one after the other, whatever the timing."""
    record, _ = tick(three, begin(three))
    both_hold_one_lock = threading.Barrier(2, timeout=1.5)
    real_get, real_active = RolloutRows.get, RolloutRows.active

    def get(self: RolloutRows, rollout_id: int, lock: bool = False) -> RolloutRecord | None:
        found = real_get(self, rollout_id, lock)
        if lock and threading.current_thread().name == "controller":
            _meet(both_hold_one_lock)
        return found

    def active(self: RolloutRows, function_id: int, alias: str, lock: bool = False) -> RolloutRecord | None:
        if lock and threading.current_thread().name == "operator":
            _meet(both_hold_one_lock)
        return real_active(self, function_id, alias, lock)

    monkeypatch.setattr(RolloutRows, "get", get)
    monkeypatch.setattr(RolloutRows, "active", active)
    errors: list[BaseException] = []

    def run(work: Callable[[], object]) -> Callable[[], None]:
        def guarded() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        return guarded

    judge = lambda r, now: decide(r.rollout, Metrics(), r.plan.policy, now)  # noqa: E731
    threads = [
        threading.Thread(
            target=run(lambda: three.services.rollouts.advance(record.id, judge)), name="controller"
        ),
        threading.Thread(target=run(lambda: CHANGES["put"](three, True)), name="operator"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    monkeypatch.undo()

    assert errors == []
    assert target(three) == Routing.single(3)
    assert three.services.rollouts.current(FN, "prod").rollout.state is State.ABORTED


def test_changing_only_an_aliass_settings_leaves_its_rollout_running(three: Kit) -> None:
    moved_by_rollout(three)
    three.services.aliases.put(FN, "prod", AliasChanges(settings={"MODE": "live"}), "bob")
    assert three.services.aliases.get(FN, "prod").settings == {"MODE": "live"}
    assert target(three) == FIRST_STEP and three.services.rollouts.current(FN, "prod").active


def test_the_versions_a_rollout_moves_between_cannot_be_deleted_and_gc_keeps_them(three: Kit) -> None:
    record = begin(three)  # version 2 is used by the rollout alone (prod is still on 1)
    with pytest.raises(VersionInUse, match="rollout of prod"):
        three.services.versions.delete(FN, 2)
    report = three.services.versions.gc(FN, keep=0, dry_run=False, blob_grace_seconds=0)
    assert report.deleted_versions == (3,)
    assert report.pinned[2] == ("rollout of prod",)
    assert [v.number for v in three.services.versions.list(FN)] == [1, 2]

    aborted = three.services.rollouts.abort(FN, "prod", "bob")
    finish(three, aborted)
    assert not three.services.rollouts.current(FN, "prod").active and record.id == aborted.id
    three.services.versions.delete(FN, 2)
    assert [v.number for v in three.services.versions.list(FN)] == [1]


# --- leases -------------------------------------------------------------------------------------


def test_one_node_holds_a_rollouts_lease_until_it_runs_out(three: Kit) -> None:
    rid = begin(three).id
    rollouts = three.services.rollouts
    assert rollouts.claim(rid, "node-a", 15)
    assert not rollouts.claim(rid, "node-b", 15)
    three.clock.advance(10)
    assert rollouts.claim(rid, "node-a", 15)  # renewed until t+25
    three.clock.advance(10)
    assert not rollouts.claim(rid, "node-b", 15)
    three.clock.advance(6)
    assert rollouts.claim(rid, "node-b", 15)  # node-a's lease ran out: node-b takes over
    assert not rollouts.claim(rid, "node-a", 15)
    rollout = rollouts.current(FN, "prod").rollout
    takeovers = [r for r in rollout.history if r.action.value == "take-over"]
    assert [r.reason for r in takeovers] == ["controller taken over by node node-b from node node-a"]
    assert takeovers[0].state is rollout.state  # a line in the history, not a change of state


def test_releasing_frees_every_lease_of_that_node_only(three: Kit) -> None:
    three.alias(FN, "staging", 1)
    three.alias(FN, "canary", 1)
    a1, a2 = begin(three).id, begin(three, "staging", to=3).id
    b1 = begin(three, "canary", to=3).id
    rollouts = three.services.rollouts
    assert rollouts.claim(a1, "node-a", 60) and rollouts.claim(a2, "node-a", 60)
    assert rollouts.claim(b1, "node-c", 60)
    rollouts.release("node-a")
    assert rollouts.claim(a1, "node-b", 60) and rollouts.claim(a2, "node-b", 60)
    assert not rollouts.claim(b1, "node-b", 60)
    assert rollouts.claim(a1, "node-b", 60)  # keeping one's own lease is no takeover
    taken = [r for r in rollouts.current(FN, "prod").rollout.history if r.action.value == "take-over"]
    assert len(taken) == 1  # node-a released it on shutdown: node-b took it on, once


def test_an_ended_rollout_cannot_be_claimed(three: Kit) -> None:
    record = finish(three, begin(three, strategy=all_at_once()))
    assert not three.services.rollouts.claim(record.id, "node-a", 15)


# --- the store's own guard ----------------------------------------------------------------------


def test_two_active_rollouts_of_one_alias_cannot_be_stored(three: Kit) -> None:
    now = three.clock()
    pending = start("prod", 1, 2, canary(1000, 60), now)
    with three.store.read() as tx:
        function = tx.functions.get(FN)
    assert function is not None
    with pytest.raises(Conflict), three.store.write() as tx:
        tx.rollouts.insert(function.id, pending, Plan(), "x", now)
        tx.rollouts.insert(function.id, pending, Plan(), "y", now)
    assert nothing_stored(three)

    begin(three)
    with pytest.raises(Conflict), three.store.write() as tx:
        tx.rollouts.insert(function.id, pending, Plan(), "x", now)
    assert len(three.services.rollouts.history(FN, "prod")) == 1

    # finished rollouts do not count: any number of them may sit beside the running one
    aborted = replace(pending, state=State.ABORTED)
    with three.store.write() as tx:
        tx.rollouts.insert(function.id, aborted, Plan(), "x", now)
        tx.rollouts.insert(function.id, aborted, Plan(), "y", now)
    assert len(three.services.rollouts.history(FN, "prod")) == 3


# --- starts that are wrong store nothing --------------------------------------------------------


def test_a_rollout_starts_from_one_published_version(three: Kit) -> None:
    three.alias(FN, "prod", {"1": 50, "2": 50})
    with pytest.raises(InvalidAliasTarget, match="2 versions"):
        begin(three, to=3)
    three.alias(FN, "prod", None)
    with pytest.raises(InvalidAliasTarget, match=r"\$LATEST"):
        begin(three, to=3)
    three.alias(FN, "prod", 2)
    with pytest.raises(InvalidAliasTarget):
        begin(three, to=2)  # to the version it is already on
    assert nothing_stored(three)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda kit: begin(kit, to=9), VersionNotFound),
        (lambda kit: begin(kit, "nope"), AliasNotFound),
        (lambda kit: kit.services.rollouts.start("ghost", "prod", request(), "alice"), FunctionNotFound),
        (lambda kit: begin(kit, plan=Plan(pre_hook=Hook(function="checks"))), FunctionNotFound),
        (lambda kit: begin(kit, plan=Plan(post_hook=Hook(function="checks:prod"))), FunctionNotFound),
        (lambda kit: begin(kit, plan=Plan(policy=Policy(Gates(custom="judge")))), FunctionNotFound),
        (lambda kit: begin(kit, plan=Plan(pre_hook=Hook(function=f"{FN}:missing"))), AliasNotFound),
        (lambda kit: begin(kit, plan=Plan(pre_hook=Hook(function=f"{FN}:9"))), VersionNotFound),
    ],
)
def test_a_start_naming_something_that_does_not_exist_stores_nothing(
    three: Kit, make: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        make(three)  # type: ignore[operator]
    assert nothing_stored(three)


def test_a_hook_naming_an_existing_validator_is_accepted(three: Kit) -> None:
    three.deploy("checks", code("checks"))
    three.publish("checks")
    three.alias("checks", "prod", 1)
    plan = Plan(pre_hook=Hook(function="checks:prod"), post_hook=Hook(function="checks:1"))
    assert begin(three, plan=plan).plan == plan


def test_shadow_traffic_needs_an_idempotent_candidate(three: Kit) -> None:
    shadowing = Plan(policy=Policy(Gates(), shadow_s=60), shadow=Shadow(1000))
    with pytest.raises(InvalidInput, match="idempotent"):
        begin(three, plan=shadowing)
    assert nothing_stored(three)

    three.deploy(FN, code(4), idempotent=True)
    assert three.publish(FN).number == 4
    record = begin(three, to=4, plan=shadowing)
    assert record.plan.shadow == Shadow(1000) and record.rollout.candidate == 4
