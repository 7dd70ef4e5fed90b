"""Shared resources and the compatibility guards, on SQLite and PostgreSQL: resource moves and their
history, [requires] in versions, and every alias move (set, swap, rollback, rollout) refused when it would
send traffic to a version that excludes a resource's current version."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.store.conftest import Kit, code
from turnout.domain.alias import AliasAction
from turnout.domain.gates import Gates, Metrics, Window
from turnout.domain.plan import Plan
from turnout.domain.rollout import Decision, Policy, State, decide
from turnout.domain.routing import Routing
from turnout.domain.strategy import canary
from turnout.errors import Incompatible, InvalidInput, InvalidName, ResourceNotFound
from turnout.services.aliases import AliasChanges
from turnout.services.rollouts import RolloutRequest
from turnout.services.schedules import NewSchedule
from turnout.store.rollouts import RolloutRecord

FN = "orders"
OLD, MIDDLE, NEW = "<7", ">=6,<8", ">=7"
BROKEN = Metrics(baseline=Window(1000, {"E": 1}), candidate=Window(100, {"Function.Unhandled": 50}))
QUIET = Metrics()
PLAN = Plan(policy=Policy(Gates(max_error_rate=0.01, min_invocations=10)))


@pytest.fixture
def kit3(kit: Kit) -> Kit:
    """orders v1 (no requires), v2 requires orders-db <7, v3 >=6,<8, v4 >=7; orders-db at 6; prod on 2."""
    for n, spec in ((1, None), (2, OLD), (3, MIDDLE), (4, NEW)):
        kit.deploy(FN, code(n), requires={} if spec is None else {"orders-db": spec})
        kit.publish(FN)
    kit.services.resources.set("orders-db", "6", "dba", "initial")
    kit.alias(FN, "prod", 2)
    kit.alias(FN, "staging", 3)
    return kit


def history(kit: Kit, alias: str = "prod") -> list[tuple[AliasAction, str]]:
    return [(c.action, c.reason) for c in kit.services.aliases.history(FN, alias)]


def move_db(kit: Kit, version: str = "7") -> None:
    """orders-db to ``version`` with prod moved off v2 first (as a safe migration would), then back."""
    kit.alias(FN, "prod", 3)
    kit.services.resources.set("orders-db", version, "dba", "migration 0042")


# --- resources -------------------------------------------------------------------------------------


def test_a_resource_is_created_moved_and_its_history_kept(kit: Kit) -> None:
    res = kit.services.resources
    first = res.set("orders-db", "6", "dba", "initial")
    assert (first.before, first.resource.version, first.changed) == (None, "6", True)
    kit.clock.advance(60)
    second = res.set("orders-db", "7.0", "dba", "migration 0042")
    assert (second.before, second.resource.version) == ("6", "7.0")
    assert res.set("orders-db", "7.0", "dba").changed is False  # the same version: no new line
    lines = res.history("orders-db")
    assert [(c.before, c.after, c.actor, c.reason, c.forced) for c in lines] == [
        ("6", "7.0", "dba", "migration 0042", False),
        (None, "6", "dba", "initial", False),
    ]
    assert lines[0].at == kit.clock() and [r.name for r in res.list()] == ["orders-db"]
    assert res.get("orders-db").created_at < res.get("orders-db").updated_at


def test_bad_resource_input_is_refused_and_nothing_written(kit: Kit) -> None:
    res = kit.services.resources
    with pytest.raises(InvalidInput, match="PEP 440"):
        res.set("orders-db", "seven", "dba")
    with pytest.raises(InvalidName):
        res.set("orders db", "7", "dba")
    assert res.list() == []
    with pytest.raises(ResourceNotFound):
        res.get("orders-db")
    with pytest.raises(ResourceNotFound):
        res.history("orders-db")


def test_requires_is_frozen_in_the_version_and_bad_ranges_are_refused(kit3: Kit) -> None:
    assert kit3.services.versions.get(FN, 3).config.requires == {"orders-db": "<8,>=6"}
    assert kit3.services.versions.get(FN, 1).config.requires == {}
    with pytest.raises(InvalidInput, match="orders-db"):
        kit3.deploy(FN, code(9), requires={"orders-db": "not a range"})
    diff = kit3.services.diff.diff(FN, "2", "3")
    assert [(c.key, c.before, c.after) for c in diff.config] == [("requires orders-db", "<7", "<8,>=6")]


def test_requiring_a_resource_that_does_not_exist_yet_is_allowed(kit: Kit) -> None:
    kit.deploy(FN, code(1), requires={"payments-api": ">=2"})
    kit.publish(FN)
    kit.alias(FN, "prod", 1)  # unknown: not refused
    assert kit.services.aliases.get(FN, "prod").routing == Routing.single(1)


# --- moving a resource -----------------------------------------------------------------------------


def test_moving_a_resource_past_live_versions_is_refused_listing_them(kit3: Kit) -> None:
    res = kit3.services.resources
    with pytest.raises(Incompatible) as caught:
        res.set("orders-db", "7", "dba", "migration 0042")
    assert "orders v2 requires orders-db <7" in caught.value.message and "alias prod" in caught.value.message
    assert [c["version"] for c in caught.value.details["clashes"]] == [2]
    assert res.get("orders-db").version == "6" and len(res.history("orders-db")) == 1

    plan = res.set("orders-db", "8", "dba", dry_run=True)
    assert plan.dry_run and res.get("orders-db").version == "6"
    assert [(c.version, c.via) for c in plan.clashes] == [(2, ("alias prod",)), (3, ("alias staging",))]

    forced = res.set("orders-db", "7", "dba", "hotfix", force=True)
    assert forced.forced and [c.version for c in forced.clashes] == [2]
    line = res.history("orders-db")[0]
    assert line.forced and "hotfix" in line.reason and "forced past" in line.reason
    assert line.details["clashes"][0]["version"] == 2  # type: ignore[index]


def test_triggers_pinned_to_versions_and_rollouts_count_as_live(kit3: Kit) -> None:
    kit3.alias(FN, "prod", 3)  # v2 is no longer routed by an alias
    assert kit3.services.resources.set("orders-db", "7", "dba", dry_run=True).clashes == ()
    kit3.services.rollouts.start(FN, "prod", RolloutRequest(2, canary(1000, 60), PLAN), "alice")
    plan = kit3.services.resources.set("orders-db", "7", "dba", dry_run=True)
    assert [(c.version, c.via) for c in plan.clashes] == [(2, ("rollout of prod",))]


def test_routes_and_schedules_pinned_to_a_version_or_latest_count_as_live(kit3: Kit) -> None:
    kit3.alias(FN, "prod", 3)
    kit3.services.routes.add("GET", "/orders", FN, "2")
    kit3.services.routes.add("GET", "/follows", FN, "prod")  # follows the alias: covered by it
    kit3.deploy(FN, code("draft"), requires={"orders-db": "<7"})
    kit3.services.schedules.add(NewSchedule("nightly", "rate(1 hour)", FN, None))
    plan = kit3.services.resources.set("orders-db", "7", "dba", dry_run=True)
    assert [(c.version, c.via) for c in plan.clashes] == [
        (None, ("schedule nightly",)),
        (2, ("route GET /orders",)),
    ]
    assert "$LATEST requires orders-db <7" in plan.clashes[0].describe()


# --- moving traffic --------------------------------------------------------------------------------


def test_alias_moves_to_an_incompatible_version_are_refused_and_nothing_written(kit3: Kit) -> None:
    move_db(kit3)
    before = history(kit3)
    with pytest.raises(Incompatible) as caught:
        kit3.alias(FN, "prod", 2)
    message = caught.value.message
    assert all(s in message for s in ("orders", "v2", "orders-db", "is 7", "<7"))
    with pytest.raises(Incompatible):
        kit3.alias(FN, "prod", {"3": 90, "2": 10})  # a split gives v2 traffic too
    with pytest.raises(Incompatible):
        kit3.alias(FN, "canary", 2)  # a new alias
    with pytest.raises(Incompatible):
        kit3.services.aliases.rollback(FN, "prod", "bob")  # back to 2, from the history
    with pytest.raises(Incompatible):
        kit3.services.aliases.rollback(FN, "prod", "bob", to=2)
    kit3.alias(FN, "old", 1)
    kit3.alias(FN, "older", 1)
    assert history(kit3) == before
    assert kit3.services.aliases.get(FN, "prod").routing == Routing.single(3)


def test_swap_is_refused_when_a_version_would_gain_traffic_it_cannot_take(kit3: Kit) -> None:
    move_db(kit3)  # prod 3, staging 3
    kit3.alias(FN, "blue", 4)
    kit3.services.aliases.put(FN, "green", AliasChanges(routing=Routing.single(2)), "bob", force=True)
    before = history(kit3, "blue")
    with pytest.raises(Incompatible, match="v2"):
        kit3.services.aliases.swap(FN, "blue", "green", "bob")
    assert history(kit3, "blue") == before
    assert kit3.services.aliases.get(FN, "green").routing == Routing.single(2)
    kit3.services.aliases.swap(FN, "prod", "blue", "bob")  # 4 and 3 both accept 7


def test_forcing_an_alias_move_records_the_override_in_its_history(kit3: Kit) -> None:
    move_db(kit3)
    alias = kit3.services.aliases.get(FN, "prod")
    changes = AliasChanges(routing=Routing.single(2))
    kit3.services.aliases.put(FN, "prod", changes, "bob", "emergency", force=True)
    line = kit3.services.aliases.history(FN, "prod")[0]
    assert line.after == Routing.single(2) and line.actor == "bob"
    assert line.reason.startswith("emergency [forced past the compatibility guard: orders v2")
    assert line.details["forced_past"][0]["resource"] == "orders-db"  # type: ignore[index]
    assert alias.routing == Routing.single(3)


def test_route_inside_a_transaction_is_guarded_and_takes_force(kit3: Kit) -> None:
    move_db(kit3)
    aliases = kit3.services.aliases
    with pytest.raises(Incompatible), kit3.store.write() as tx:
        function = tx.functions.get(FN)
        assert function is not None
        alias = tx.aliases.get(function.id, "prod")
        assert alias is not None
        aliases.route(tx, function, alias, Routing.single(2), "release", "r1", AliasAction.UPDATE, {})
    assert aliases.get(FN, "prod").routing == Routing.single(3)
    with kit3.store.write() as tx:
        function = tx.functions.get(FN)
        assert function is not None
        alias = tx.aliases.get(function.id, "prod")
        assert alias is not None
        aliases.route(
            tx, function, alias, Routing.single(2), "release", "r1", AliasAction.UPDATE, {}, force=True
        )
    assert aliases.get(FN, "prod").routing == Routing.single(2)
    assert "forced_past" in aliases.history(FN, "prod")[0].details


# --- rollouts ----------------------------------------------------------------------------------------


def tick(kit: Kit, record: RolloutRecord, metrics: Metrics = QUIET) -> tuple[RolloutRecord, Decision]:
    def judge(current: RolloutRecord, now: datetime) -> Decision:
        return decide(current.rollout, metrics, current.plan.policy, now)

    done = kit.services.rollouts.advance(record.id, judge)
    assert done is not None
    return done


def test_a_rollout_start_checks_candidate_and_baseline(kit3: Kit) -> None:
    rollouts = kit3.services.rollouts
    with pytest.raises(Incompatible, match="v4"):  # candidate: orders-db is 6, v4 requires >=7
        rollouts.start(FN, "prod", RolloutRequest(4, canary(1000, 60), PLAN), "alice")
    move_db(kit3)
    kit3.services.aliases.put(FN, "prod", AliasChanges(routing=Routing.single(2)), "bob", force=True)
    with pytest.raises(Incompatible, match="v2"):  # baseline: prod is on v2, which requires <7
        rollouts.start(FN, "prod", RolloutRequest(4, canary(1000, 60), PLAN), "alice")
    assert rollouts.running() == []
    record = rollouts.start(FN, "prod", RolloutRequest(4, canary(1000, 60), PLAN), "alice", force=True)
    assert "forced past the compatibility guard" in record.rollout.history[-1].reason


def test_an_automatic_rollback_to_an_incompatible_baseline_is_blocked(kit3: Kit) -> None:
    move_db(kit3)  # prod on 3, orders-db 7: 3 and 4 both accept it
    rollouts = kit3.services.rollouts
    record = rollouts.start(FN, "prod", RolloutRequest(4, canary(1000, 60), PLAN), "alice")
    record, _ = tick(kit3, record)  # 10% to v4
    assert kit3.services.aliases.get(FN, "prod").routing == Routing.from_percentages({3: 90, 4: 10})
    kit3.services.resources.set("orders-db", "8", "dba", "migration", force=True)  # v3 requires <8
    before = history(kit3)
    record, _ = tick(kit3, record)  # baking
    kit3.clock.advance(10)
    record, decision = tick(kit3, record, BROKEN)  # gates fail: the rollback would give v3 everything

    assert record.rollout.state is State.PAUSED and record.active and decision.routing is None
    assert "rollback to 3 blocked: orders-db is 8, v3 requires <8,>=6" in decision.reason
    assert kit3.services.aliases.get(FN, "prod").routing == Routing.from_percentages({3: 90, 4: 10})
    assert history(kit3) == before
    assert rollouts.blocked_total == 1
    kit3.clock.advance(1)
    record, _ = tick(kit3, record, BROKEN)  # still blocked, one history line
    assert record.rollout.state is State.PAUSED and rollouts.blocked_total == 1

    with pytest.raises(Incompatible):
        rollouts.abort(FN, "prod", "carol")
    assert rollouts.current(FN, "prod").rollout.state is State.PAUSED
    aborted = rollouts.abort(FN, "prod", "carol", "give v3 its traffic back", force=True)
    assert aborted.rollout.state is State.ROLLING_BACK
    line = kit3.services.aliases.history(FN, "prod")[0]
    assert line.after == Routing.single(3) and "forced_past" in line.details


def test_describe_shows_the_live_versions_requiring_it_in_and_out_of_range(kit3: Kit) -> None:
    res = kit3.services.resources
    res.set("orders-db", "7", "dba", "hotfix", force=True)
    view = res.describe("orders-db", limit=1)
    assert view.resource.version == "7" and [c.after for c in view.history] == ["7"]  # the newest only
    assert sorted(view.users) == [
        (FN, 2, OLD, False, ("alias prod",)),  # out of range: the forced move left it behind
        (FN, 3, "<8,>=6", True, ("alias staging",)),  # ranges are kept normalized (packaging)
    ]
    with pytest.raises(ResourceNotFound):
        res.describe("payments-db")
