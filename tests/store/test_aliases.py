"""Aliases: weights, validation, revision ids, swap, rollback and history."""

from __future__ import annotations

import uuid

import pytest

from tests.store.conftest import Kit, code
from turnout.domain.alias import AliasAction, AliasChange
from turnout.domain.routing import Route, Routing
from turnout.errors import (
    AliasNotFound,
    InvalidAliasTarget,
    InvalidName,
    InvalidWeights,
    NothingToRollBack,
    PreconditionFailed,
    VersionNotFound,
)
from turnout.services.aliases import AliasChanges
from turnout.store.aliases import AliasRows

FN = "thumbs"


@pytest.fixture
def four(kit: Kit) -> Kit:
    """A function with versions 1-4."""
    for n in (1, 2, 3, 4):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    return kit


def _routes(kit: Kit, alias: str) -> list[tuple[int | None, int]]:
    return [(r.version, r.weight_bp) for r in kit.services.aliases.get(FN, alias).routing.routes]


def test_an_alias_splits_traffic_three_ways_in_basis_points(four: Kit) -> None:
    four.alias(FN, "prod", {"1": "33.33", "2": 33.33, "3": "33.34"})
    assert _routes(four, "prod") == [(1, 3333), (2, 3333), (3, 3334)]


def test_an_alias_splits_traffic_four_ways(four: Kit) -> None:
    four.alias(FN, "prod", {"4": 40, "3": 30, "2": 20, "1": 10})
    assert _routes(four, "prod") == [(1, 1000), (2, 2000), (3, 3000), (4, 4000)]
    # Narrowing a split back to one version replaces every route.
    four.alias(FN, "prod", 4)
    assert _routes(four, "prod") == [(4, 10000)]
    assert four.services.aliases.list(FN)[0].routing == Routing.single(4)


def test_an_alias_may_point_at_latest_alone(four: Kit) -> None:
    four.alias(FN, "dev", None)
    assert _routes(four, "dev") == [(None, 10000)]


@pytest.mark.parametrize("weights", [{"1": 50, "2": 49}, {"1": 60, "2": 50}, {"1": 33.333, "2": 66.667}])
def test_weights_not_summing_to_100_are_refused(four: Kit, weights: dict[str, float]) -> None:
    with pytest.raises(InvalidWeights):
        four.alias(FN, "prod", weights)
    with pytest.raises(AliasNotFound):
        four.services.aliases.get(FN, "prod")


def test_an_alias_to_a_missing_version_is_refused(four: Kit) -> None:
    four.services.versions.delete(FN, 2)
    for target in (9, {"1": 50, "2": 50}):
        with pytest.raises(VersionNotFound):
            four.alias(FN, "prod", target)
    assert four.services.aliases.list(FN) == []
    four.alias(FN, "prod", 1)
    with pytest.raises(VersionNotFound):
        four.alias(FN, "prod", {"1": 90, "5": 10})
    assert _routes(four, "prod") == [(1, 10000)]


def test_latest_inside_a_split_is_refused(four: Kit) -> None:
    with pytest.raises(InvalidAliasTarget):
        four.alias(FN, "prod", {"$LATEST": 50, "1": 50})
    with pytest.raises(InvalidAliasTarget):
        Routing((Route(None, 5000), Route(1, 5000)))
    assert four.services.aliases.list(FN) == []


@pytest.mark.parametrize("name", ["1", "42", "007"])
def test_all_digit_alias_names_are_refused(four: Kit, name: str) -> None:
    with pytest.raises(InvalidName):
        four.alias(FN, name, 1)
    assert four.services.aliases.list(FN) == []


def test_every_alias_update_changes_the_revision_id(four: Kit) -> None:
    seen = [four.alias(FN, "prod", 1).revision_id]
    seen.append(four.alias(FN, "prod", 2).revision_id)
    seen.append(four.alias(FN, "prod", {"2": 90, "3": 10}).revision_id)
    changes = AliasChanges(settings={"MODE": "live"})
    seen.append(four.services.aliases.put(FN, "prod", changes, "tester")[0].revision_id)
    seen.append(four.services.aliases.rollback(FN, "prod", "tester").revision_id)
    assert len(set(seen)) == len(seen)
    assert all(str(uuid.UUID(r)) == r for r in seen)
    assert four.services.aliases.get(FN, "prod").revision_id == seen[-1]


def test_an_alias_update_with_a_stale_if_match_is_refused_and_writes_nothing(four: Kit) -> None:
    old = four.alias(FN, "prod", 1)
    current = four.alias(FN, "prod", 2, if_match=old.revision_id)
    with pytest.raises(PreconditionFailed) as caught:
        four.alias(FN, "prod", 3, if_match=old.revision_id)
    assert caught.value.details["current_revision_id"] == current.revision_id
    assert four.services.aliases.get(FN, "prod") == current
    assert len(four.services.aliases.history(FN, "prod")) == 2
    moved = four.alias(FN, "prod", 3, if_match=f'"{current.revision_id}"')
    assert _routes(four, "prod") == [(3, 10000)]
    assert moved.revision_id != current.revision_id


def test_swap_exchanges_targets_and_settings_stay_with_their_alias(four: Kit) -> None:
    four.alias(FN, "prod", 1, settings={"MODE": "live"}, description="customers")
    four.alias(FN, "staging", {"2": 50, "3": 50}, settings={"MODE": "test"})
    prod, staging = four.services.aliases.swap(FN, "prod", "staging", "alice", "release 2/3")
    assert prod.routing == Routing.from_percentages({2: 50, 3: 50})
    assert staging.routing == Routing.single(1)

    stored = {a.name: a for a in four.services.aliases.list(FN)}
    assert stored["prod"].routing == prod.routing and stored["staging"].routing == staging.routing
    assert stored["prod"].settings == {"MODE": "live"} and stored["prod"].description == "customers"
    assert stored["staging"].settings == {"MODE": "test"}

    for name, before, after, other in (
        ("prod", Routing.single(1), prod.routing, "staging"),
        ("staging", Routing.from_percentages({2: 50, 3: 50}), Routing.single(1), "prod"),
    ):
        line = four.services.aliases.history(FN, name)[0]
        assert line.action is AliasAction.SWAP
        assert (line.actor, line.reason) == ("alice", "release 2/3")
        assert (line.before, line.after) == (before, after)
        assert line.details == {"with": other}


def test_swap_is_one_transaction(four: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    four.alias(FN, "prod", 1)
    four.alias(FN, "staging", 2)
    calls: list[str] = []
    real_record = AliasRows.record

    def record_then_fail(self: AliasRows, function_id: int, change: AliasChange) -> None:
        calls.append("record")
        if len(calls) == 2:
            raise RuntimeError("crash between the two sides of the swap")
        real_record(self, function_id, change)

    monkeypatch.setattr("turnout.store.aliases.AliasRows.record", record_then_fail)
    with pytest.raises(RuntimeError):
        four.services.aliases.swap(FN, "prod", "staging", "alice")
    monkeypatch.undo()
    assert _routes(four, "prod") == [(1, 10000)]
    assert _routes(four, "staging") == [(2, 10000)]
    assert [c.action for c in four.services.aliases.history(FN, "prod")] == [AliasAction.CREATE]


def test_history_records_who_moved_an_alias_from_where_to_where_and_why(four: Kit) -> None:
    four.clock.advance(5)
    four.alias(FN, "prod", 1, actor="alice", reason="first release")
    four.clock.advance(5)
    four.alias(FN, "prod", {"1": 90, "2": 10}, actor="bob", reason="canary")
    newest, oldest = four.services.aliases.history(FN, "prod")
    assert (oldest.action, oldest.actor, oldest.reason) == (AliasAction.CREATE, "alice", "first release")
    assert (oldest.before, oldest.after) == (None, Routing.single(1))
    assert (newest.action, newest.actor, newest.reason) == (AliasAction.UPDATE, "bob", "canary")
    assert newest.before == Routing.single(1)
    assert newest.after == Routing.from_percentages({1: 90, 2: 10})
    assert newest.at > oldest.at
    assert newest.at == four.clock()


def test_rollback_returns_to_the_previous_target_and_a_second_rollback_goes_back_again(four: Kit) -> None:
    four.alias(FN, "prod", 1)
    four.alias(FN, "prod", 2)
    four.alias(FN, "prod", {"2": 70, "3": 30})
    rollback = four.services.aliases.rollback
    assert rollback(FN, "prod", "alice", reason="bad canary").routing == Routing.single(2)
    assert rollback(FN, "prod", "alice").routing == Routing.from_percentages({2: 70, 3: 30})
    assert rollback(FN, "prod", "alice").routing == Routing.single(2)
    line = four.services.aliases.history(FN, "prod")[0]
    assert (line.action, line.actor) == (AliasAction.ROLLBACK, "alice")
    assert line.after == Routing.single(2)
    assert _routes(four, "prod") == [(2, 10000)]


def test_rollback_to_any_version(four: Kit) -> None:
    four.alias(FN, "prod", 4)
    assert four.services.aliases.rollback(FN, "prod", "alice", to=1).routing == Routing.single(1)
    assert _routes(four, "prod") == [(1, 10000)]
    with pytest.raises(VersionNotFound):
        four.services.aliases.rollback(FN, "prod", "alice", to=9)
    assert _routes(four, "prod") == [(1, 10000)]
    # The explicit rollback is itself a move, so a plain rollback undoes it.
    assert four.services.aliases.rollback(FN, "prod", "alice").routing == Routing.single(4)


def test_rollback_without_history_has_nothing_to_roll_back_to(four: Kit) -> None:
    created = four.alias(FN, "prod", 1)
    four.services.aliases.put(FN, "prod", AliasChanges(settings={"MODE": "x"}), "alice")
    with pytest.raises(NothingToRollBack):
        four.services.aliases.rollback(FN, "prod", "alice")
    assert four.services.aliases.get(FN, "prod").routing == created.routing
    assert len(four.services.aliases.history(FN, "prod")) == 2
