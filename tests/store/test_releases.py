"""Releases in the store, through the service: several aliases moved in one transaction (a concurrent
reader never sees a mix), rolled back as one, bad input storing nothing, and release rollouts whose
members the controller's ticks move in step and roll back together. Every test runs on SQLite and on
PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import pytest

from tests.store.conftest import Kit, code
from turnout.domain.alias import AliasAction
from turnout.domain.gates import Gates, Metrics, Window
from turnout.domain.plan import Plan
from turnout.domain.release import Member, ReleaseState
from turnout.domain.rollout import Decision, Policy, decide
from turnout.domain.routing import Routing
from turnout.domain.strategy import canary
from turnout.errors import (
    AliasNotFound,
    AlreadyExists,
    FunctionNotFound,
    Incompatible,
    InvalidAliasTarget,
    InvalidInput,
    InvalidName,
    InvalidRolloutTransition,
    NothingToRollBack,
    PreconditionFailed,
    ReleaseNotFound,
    RolloutInProgress,
    RolloutNotFound,
    VersionNotFound,
)
from turnout.services.releases import ReleaseView
from turnout.services.rollouts import RolloutRequest
from turnout.store.rollouts import RolloutRecord

FUNCTIONS = ("api", "web", "worker")
PLAN = Plan(policy=Policy(Gates(max_error_rate=0.05, min_invocations=10)))
HEALTHY = Metrics(baseline=Window(100), candidate=Window(100))
BROKEN = Metrics(baseline=Window(100), candidate=Window(100, {"Function.Unhandled": 50}))


@pytest.fixture
def trio(kit: Kit) -> Kit:
    """api, web and worker with versions 1-3 each, ``prod`` on version 1."""
    for name in FUNCTIONS:
        for n in (1, 2, 3):
            kit.deploy(name, code(f"{name}{n}"))
            kit.publish(name)
        kit.alias(name, "prod", 1)
    return kit


def to(version: int) -> list[Member]:
    return [Member(name, "prod", version) for name in FUNCTIONS]


def targets(kit: Kit) -> dict[str, str]:
    return {name: kit.services.aliases.get(name, "prod").routing.describe() for name in FUNCTIONS}


def test_a_release_moves_every_alias_with_a_history_line_naming_it(trio: Kit) -> None:
    view = trio.services.releases.create("checkout", to(2), "alice", "new checkout flow")

    assert view.release.state is ReleaseState.SUCCEEDED
    assert targets(trio) == {name: "2" for name in FUNCTIONS}
    assert [(m.function, m.before, m.after) for m in view.release.members] == [
        (name, Routing.single(1), Routing.single(2)) for name in FUNCTIONS
    ]
    for name in FUNCTIONS:
        line = trio.services.aliases.history(name, "prod", 1)[0]
        assert line.action is AliasAction.UPDATE and line.actor == "alice"
        assert line.reason == "release checkout: new checkout flow"
        assert line.details["release"] == "checkout"
    assert [r.release.name for r in trio.services.releases.list()] == ["checkout"]
    assert trio.services.releases.get("checkout").release.members == view.release.members


def test_its_rollback_returns_every_alias_and_is_one_way(trio: Kit) -> None:
    trio.services.releases.create("checkout", to(2), "alice")
    view = trio.services.releases.rollback("checkout", "bob", "conversion dropped")

    assert view.release.state is ReleaseState.ROLLED_BACK
    assert targets(trio) == {name: "1" for name in FUNCTIONS}
    for name in FUNCTIONS:
        line = trio.services.aliases.history(name, "prod", 1)[0]
        assert line.action is AliasAction.ROLLBACK and line.actor == "bob"
        assert line.reason == "release checkout rolled back: conversion dropped"
        assert line.details["release"] == "checkout"
    assert [h["state"] for h in view.release.history] == ["succeeded", "rolled-back"]
    with pytest.raises(NothingToRollBack):
        trio.services.releases.rollback("checkout", "bob")


def test_a_release_name_is_used_once(trio: Kit) -> None:
    trio.services.releases.create("checkout", to(2), "alice")
    with pytest.raises(AlreadyExists, match="release 'checkout' exists"):
        trio.services.releases.create("checkout", to(3), "alice")
    assert targets(trio) == {name: "2" for name in FUNCTIONS}


@pytest.mark.parametrize(
    ("members", "error", "match"),
    [
        ([*to(2)[:2], Member("ghost", "prod", 2)], FunctionNotFound, "ghost"),
        ([*to(2)[:2], Member("worker", "canary", 2)], AliasNotFound, "canary"),
        ([*to(2)[:2], Member("worker", "prod", 9)], VersionNotFound, "no version 9"),
        ([*to(2), Member("api", "prod", 3)], InvalidInput, "api:prod is named twice"),
        ([], InvalidInput, "at least one"),
    ],
)
def test_bad_input_writes_nothing(
    trio: Kit, members: list[Member], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        trio.services.releases.create("checkout", members, "alice")
    assert targets(trio) == {name: "1" for name in FUNCTIONS}
    assert trio.services.releases.list() == []
    assert all(len(trio.services.aliases.history(n, "prod")) == 1 for n in FUNCTIONS)


def test_bad_names_and_unknown_releases(trio: Kit) -> None:
    with pytest.raises(InvalidName):
        trio.services.releases.create("no spaces", to(2), "alice")
    with pytest.raises(ReleaseNotFound):
        trio.services.releases.get("nope")
    with pytest.raises(ReleaseNotFound):
        trio.services.releases.rollback("nope", "bob")


def test_a_rollback_is_refused_as_a_whole_when_an_alias_moved_since_unless_forced(trio: Kit) -> None:
    trio.services.releases.create("checkout", to(2), "alice")
    trio.alias("web", "prod", 3, reason="hotfix")

    with pytest.raises(PreconditionFailed, match=r"web:prod now 3 \(the release set 2\)"):
        trio.services.releases.rollback("checkout", "bob")
    assert targets(trio) == {"api": "2", "web": "3", "worker": "2"}  # nothing moved

    view = trio.services.releases.rollback("checkout", "bob", force=True)
    assert targets(trio) == {name: "1" for name in FUNCTIONS}
    assert view.release.history[-1]["event"] == "rolled back (forced)"


def test_a_rollback_is_refused_as_a_whole_while_an_alias_has_a_rollout(trio: Kit) -> None:
    trio.services.releases.create("checkout", to(2), "alice")
    trio.services.rollouts.start("worker", "prod", RolloutRequest(3, canary(1000, 60), PLAN), "carol")

    with pytest.raises(RolloutInProgress, match="'worker' has rollout"):
        trio.services.releases.rollback("checkout", "bob")
    assert targets(trio) == {name: "2" for name in FUNCTIONS}
    with pytest.raises(RolloutInProgress):
        trio.services.releases.create("again", to(3), "alice")


def test_a_concurrent_reader_never_sees_a_mix(trio: Kit) -> None:
    """A reader reads the three aliases in one (snapshot) read transaction, over and over, while releases
    move them to 2 or 3 and roll them back to 1: every read sees the three on the same version."""
    store, seen, mixes = trio.store, Counter[str](), []
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                with store.read(snapshot=True) as tx:
                    found = []
                    for name in FUNCTIONS:
                        function = tx.functions.get(name)
                        assert function is not None
                        alias = tx.aliases.get(function.id, "prod")
                        assert alias is not None
                        found.append(alias.routing.describe())
                seen[found[0]] += 1
                if len(set(found)) != 1:
                    mixes.append(found)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for n in range(12):
            trio.services.releases.create(f"r{n}", to(2 + n % 2), "alice")
            trio.services.releases.rollback(f"r{n}", "alice")
    finally:
        stop.set()
        reader.join(30)
    assert not errors, errors
    assert mixes == []
    assert seen["1"] > 0 and sum(seen.values()) > 12
    assert targets(trio) == {name: "1" for name in FUNCTIONS}


# -- a release as one rollout --------------------------------------------------------------------------


def release_rollout(kit: Kit, name: str = "checkout") -> ReleaseView:
    return kit.services.releases.create(
        name, to(2), "alice", "in step", RolloutRequest(1, canary(1000, 60), PLAN)
    )


def tick(kit: Kit, view: ReleaseView, metrics: dict[str, Metrics]) -> list[tuple[RolloutRecord, Decision]]:
    """One controller tick of the release: each member judged on its own metrics, applied together."""

    def judge(current: RolloutRecord, now: datetime) -> Decision:
        return decide(current.rollout, metrics[current.function], current.plan.policy, now)

    done = kit.services.releases.advance(view.release.id, judge)
    assert done is not None
    return done


def healthy_judge(record: RolloutRecord, now: datetime) -> Decision:
    return decide(record.rollout, HEALTHY, record.plan.policy, now)


def states(kit: Kit, name: str = "checkout") -> tuple[ReleaseState, list[str]]:
    view = kit.services.releases.get(name)
    return view.release.state, [view.rollouts[m.rollout_id].rollout.state.value for m in view.release.members]  # type: ignore[index]


def test_a_release_rollout_moves_its_members_in_step_to_the_end(trio: Kit) -> None:
    view = release_rollout(trio)
    assert view.release.state is ReleaseState.PENDING and len(view.rollouts) == 3
    assert all(r.release_id == view.release.id for r in view.rollouts.values())
    quiet = {name: Metrics() for name in FUNCTIONS}
    healthy = {name: HEALTHY for name in FUNCTIONS}

    tick(trio, view, quiet)  # all three: first step
    assert targets(trio) == {name: "1 (90%), 2 (10%)" for name in FUNCTIONS}
    assert states(trio) == (ReleaseState.RUNNING, ["stepping"] * 3)
    trio.clock.advance(1)
    tick(trio, view, quiet)  # baking
    trio.clock.advance(61)
    done = tick(trio, view, {**healthy, "web": Metrics()})  # web cannot judge yet: nobody moves on
    assert targets(trio) == {name: "1 (90%), 2 (10%)" for name in FUNCTIONS}
    assert "waiting for the other members" in done[0][1].reason
    trio.clock.advance(1)
    tick(trio, view, healthy)
    assert targets(trio) == {name: "2" for name in FUNCTIONS}
    for _ in range(5):
        trio.clock.advance(61)
        if trio.services.releases.advance(view.release.id, healthy_judge) is None:
            break
    assert states(trio) == (ReleaseState.SUCCEEDED, ["succeeded"] * 3)
    line = trio.services.aliases.history("worker", "prod", 1)[0]
    assert line.action is AliasAction.ROLLOUT and line.details["release"] == "checkout"
    assert line.reason.startswith("release checkout: ")
    # a succeeded release rollout rolls back like any release
    trio.services.releases.rollback("checkout", "bob")
    assert targets(trio) == {name: "1" for name in FUNCTIONS}


def test_one_failing_member_rolls_the_whole_release_back(trio: Kit) -> None:
    view = release_rollout(trio)
    tick(trio, view, {name: Metrics() for name in FUNCTIONS})
    trio.clock.advance(1)
    tick(trio, view, {name: Metrics() for name in FUNCTIONS})
    trio.clock.advance(5)
    tick(trio, view, {"api": HEALTHY, "web": BROKEN, "worker": HEALTHY})

    assert targets(trio) == {name: "1" for name in FUNCTIONS}  # all three, in that one transaction
    assert states(trio) == (ReleaseState.ROLLING_BACK, ["rolling-back"] * 3)
    trio.clock.advance(1)
    tick(trio, view, {name: HEALTHY for name in FUNCTIONS})
    assert states(trio) == (ReleaseState.ROLLED_BACK, ["rolled-back"] * 3)
    assert trio.services.releases.advance(view.release.id, healthy_judge) is None
    for name in FUNCTIONS:
        line = trio.services.aliases.history(name, "prod", 1)[0]
        assert line.action is AliasAction.ROLLBACK and line.details["release"] == "checkout"
        assert ("failed its gates" if name == "web" else "the whole release rolls back") in line.reason
    with pytest.raises(NothingToRollBack):
        trio.services.releases.rollback("checkout", "bob")


def test_a_release_rollout_needs_each_alias_on_one_version_and_no_rollout_running(trio: Kit) -> None:
    trio.alias("web", "prod", {"1": 50, "2": 50})
    with pytest.raises(InvalidAliasTarget, match="'web' points at 2 versions"):
        release_rollout(trio)
    trio.alias("web", "prod", 1)
    release_rollout(trio)
    with pytest.raises(RolloutInProgress):
        release_rollout(trio, "second")
    with pytest.raises(RolloutInProgress, match="abort one of its members' rollouts"):
        trio.services.releases.rollback("checkout", "bob")
    assert [r.release.name for r in trio.services.releases.list()] == ["checkout"]


def test_a_member_cannot_be_promoted_alone_and_its_abort_takes_the_release_back(trio: Kit) -> None:
    view = release_rollout(trio)
    tick(trio, view, {name: Metrics() for name in FUNCTIONS})
    with pytest.raises(InvalidRolloutTransition, match="cannot be promoted alone"):
        trio.services.rollouts.promote("web", "prod", "ops")
    assert targets(trio) == {name: "1 (90%), 2 (10%)" for name in FUNCTIONS}

    trio.services.rollouts.abort("web", "prod", "ops", "wrong build")
    assert targets(trio) == {"api": "1 (90%), 2 (10%)", "web": "1", "worker": "1 (90%), 2 (10%)"}
    trio.clock.advance(1)
    tick(trio, view, {name: HEALTHY for name in FUNCTIONS})  # the next tick takes the others back
    assert targets(trio) == {name: "1" for name in FUNCTIONS}
    trio.clock.advance(1)
    tick(trio, view, {name: HEALTHY for name in FUNCTIONS})
    assert states(trio) == (ReleaseState.ABORTED, ["rolled-back", "aborted", "rolled-back"])
    assert "wrong build" in trio.services.aliases.history("api", "prod", 1)[0].reason


def test_ticks_from_two_nodes_and_an_operator_at_once_serialize(trio: Kit) -> None:
    """Two controllers (a lease handed over mid-tick) and an operator's abort at the same time: no
    deadlock, no lost update - the release ends rolled back as one."""
    view = release_rollout(trio)
    tick(trio, view, {name: Metrics() for name in FUNCTIONS})
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            for _ in range(5):
                action()
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)

    def abort() -> None:
        with contextlib.suppress(RolloutNotFound, InvalidRolloutTransition):  # already on its way back
            trio.services.rollouts.abort("api", "prod", "ops")

    def advance() -> None:
        trio.services.releases.advance(view.release.id, healthy_judge)

    threads = [threading.Thread(target=run, args=(f,)) for f in (advance, advance, abort)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    while trio.services.releases.advance(view.release.id, healthy_judge) is not None:
        trio.clock.advance(1)
    assert targets(trio) == {name: "1" for name in FUNCTIONS}
    assert states(trio)[0] in (ReleaseState.ABORTED, ReleaseState.ROLLED_BACK)


# -- releases and the compatibility guards -------------------------------------------------------------


@pytest.fixture
def guarded(kit: Kit) -> Kit:
    """api and worker: v1 works with orders-db <7, v2 with >=7; web: v1 and v2 need nothing. orders-db at 6,
    ``prod`` on v1 everywhere."""
    for name in FUNCTIONS:
        for n, spec in ((1, "<7"), (2, ">=7")):
            needs = {} if name == "web" else {"orders-db": spec}
            kit.deploy(name, code(f"{name}{n}"), requires=needs)
            kit.publish(name)
        kit.alias(name, "prod", 1)
    kit.services.resources.set("orders-db", "6", "dba")
    return kit


def test_a_release_to_an_incompatible_version_is_refused_as_a_whole(guarded: Kit) -> None:
    with pytest.raises(Incompatible, match="orders-db"):
        guarded.services.releases.create("checkout", to(2), "alice")
    assert targets(guarded) == {name: "1" for name in FUNCTIONS}  # not even web moved
    assert guarded.services.releases.list() == []


def test_a_release_rollback_to_versions_a_resource_left_behind_is_refused_as_a_whole(guarded: Kit) -> None:
    guarded.services.resources.set("orders-db", "7", "dba", force=True)  # migrated first, forced
    guarded.services.releases.create("checkout", to(2), "alice")
    with pytest.raises(Incompatible, match="orders-db"):
        guarded.services.releases.rollback("checkout", "bob")
    assert targets(guarded) == {name: "2" for name in FUNCTIONS}
    assert guarded.services.releases.get("checkout").release.state is ReleaseState.SUCCEEDED


def test_a_release_rollout_whose_rollback_is_incompatible_holds_every_member(guarded: Kit) -> None:
    resources = guarded.services.resources
    resources.set("orders-db", "7", "dba", force=True)
    view = guarded.services.releases.create(
        "checkout", to(2), "alice", "", RolloutRequest(1, canary(1000, 60), PLAN), force=True
    )
    tick(guarded, view, {name: Metrics() for name in FUNCTIONS})
    guarded.clock.advance(1)
    tick(guarded, view, {name: Metrics() for name in FUNCTIONS})
    guarded.clock.advance(5)
    tick(guarded, view, {"api": HEALTHY, "web": BROKEN, "worker": HEALTHY})  # web fails: back to v1? no
    assert targets(guarded) == {name: "1 (90%), 2 (10%)" for name in FUNCTIONS}  # nobody moved
    _, members = states(guarded)
    assert members == ["paused"] * 3
    reason = guarded.services.rollouts.current("web", "prod").rollout.history[-1].reason
    assert "release held" in reason and "orders-db is 7" in reason


def test_a_release_rollout_is_paused_resumed_and_aborted_as_a_whole(trio: Kit) -> None:
    releases = trio.services.releases
    view = release_rollout(trio)
    tick(trio, view, {name: Metrics() for name in FUNCTIONS})
    releases.pause("checkout", "ops", "looking at a graph")
    assert states(trio)[1] == ["paused"] * 3
    trio.clock.advance(600)
    tick(trio, view, {name: HEALTHY for name in FUNCTIONS})  # paused: nobody moves on
    assert targets(trio) == {name: "1 (90%), 2 (10%)" for name in FUNCTIONS}
    releases.resume("checkout", "ops")
    assert states(trio)[1] == ["stepping"] * 3
    releases.abort("checkout", "ops", "not today")
    assert targets(trio) == {name: "1" for name in FUNCTIONS}  # all three, in one transaction
    for name in FUNCTIONS:
        line = trio.services.aliases.history(name, "prod", 1)[0]
        assert (line.action, line.actor, line.details["release"]) == (AliasAction.ROLLBACK, "ops", "checkout")
    trio.clock.advance(1)
    tick(trio, view, {name: HEALTHY for name in FUNCTIONS})
    assert states(trio) == (ReleaseState.ABORTED, ["aborted"] * 3)
    with pytest.raises(InvalidRolloutTransition, match="only a release rollout that is still running"):
        releases.abort("checkout", "ops")
    with pytest.raises(ReleaseNotFound):
        releases.pause("nope", "ops")


def test_aborting_a_release_to_baselines_a_resource_left_behind_needs_force(guarded: Kit) -> None:
    guarded.services.resources.set("orders-db", "7", "dba", force=True)
    view = guarded.services.releases.create(
        "checkout", to(2), "alice", "", RolloutRequest(1, canary(1000, 60), PLAN), force=True
    )
    tick(guarded, view, {name: Metrics() for name in FUNCTIONS})
    with pytest.raises(Incompatible, match="orders-db"):
        guarded.services.releases.abort("checkout", "ops")
    assert targets(guarded) == {name: "1 (90%), 2 (10%)" for name in FUNCTIONS}  # nothing moved
    guarded.services.releases.abort("checkout", "ops", force=True)
    assert targets(guarded) == {name: "1" for name in FUNCTIONS}
    assert "forced past" in guarded.services.aliases.history("api", "prod", 1)[0].reason
