"""HTTP routes in the store, through the service: add, list, remove, conflicts, unknown qualifiers,
the in-memory table kept fresh, and the versions routes pin. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from tests.store.conftest import Kit, code
from turnout.errors import (
    AliasInUse,
    AliasNotFound,
    FunctionNotFound,
    InvalidInput,
    RouteConflict,
    RouteNotFound,
    VersionNotFound,
)
from turnout.services.routes import RouteService
from turnout.services.schedules import NewSchedule

FN = "shop"


@pytest.fixture
def routes(kit: Kit) -> RouteService:
    """FN with versions 1 and 2, alias ``prod`` on 1."""
    for n in (1, 2):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.alias(FN, "prod", 1)
    return kit.services.routes


def test_a_route_is_added_listed_matched_and_removed(routes: RouteService, kit: Kit) -> None:
    made = routes.add("get", "/items/{id}", FN, "prod", host="Shop.Example.com", actor="ci")
    assert (made.method, made.host, made.path, made.function, made.qualifier) == (
        "GET",
        "shop.example.com",
        "/items/{id}",
        FN,
        "prod",
    )
    assert (made.created_by, made.created_at, made.label) == (
        "ci",
        kit.clock(),
        "route GET shop.example.com/items/{id}",
    )
    assert routes.list() == [made] == routes.list(FN)
    assert routes.get(made.id) == made

    table = routes.peek()
    assert table is not None  # rebuilt by the change itself
    found = table.match("GET", "shop.example.com", "/items/42")
    assert found is not None and found.route.id == made.id and found.parameters == {"id": "42"}

    routes.remove(made.id)
    assert routes.list() == []
    assert routes.table().match("GET", "shop.example.com", "/items/42") is None
    with pytest.raises(RouteNotFound):
        routes.remove(made.id)
    with pytest.raises(RouteNotFound):
        routes.get(made.id)


def test_qualifiers_are_recorded_as_named(routes: RouteService) -> None:
    assert routes.add(None, "/a", FN, "prod").qualifier == "prod"
    pinned = routes.add(None, "/b", FN, "2")
    assert (pinned.qualifier, pinned.method, pinned.host) == ("2", "ANY", "")
    assert routes.add(None, "/c", FN, None).qualifier == "$LATEST"


def test_the_same_method_host_and_path_twice_is_a_conflict(routes: RouteService) -> None:
    first = routes.add("GET", "/items/{id}", FN, "prod")
    with pytest.raises(RouteConflict) as refused:
        routes.add("get", "/items/{key}", FN, "2")  # another parameter name matches the same requests
    assert refused.value.status == 409 and refused.value.details["route_id"] == first.id
    # another method, host or shape is another route
    routes.add("ANY", "/items/{id}", FN, "prod")
    routes.add("GET", "/items/{id}", FN, "prod", host="a.example.com")
    routes.add("GET", "/items/{id+}", FN, "prod")
    assert len(routes.list()) == 4


def test_unknown_targets_and_bad_input_are_refused(routes: RouteService) -> None:
    with pytest.raises(FunctionNotFound):
        routes.add(None, "/x", "nope", "prod")
    with pytest.raises(AliasNotFound):
        routes.add(None, "/x", FN, "staging")
    with pytest.raises(VersionNotFound):
        routes.add(None, "/x", FN, "9")
    with pytest.raises(InvalidInput, match="Turnout's own"):
        routes.add(None, "/v1/things", FN, "prod")
    with pytest.raises(InvalidInput, match="not both"):
        routes.add(None, "/x", FN, "prod", sticky_cookie="tv", sticky_header="x-user")
    assert routes.list() == []


def test_pinned_versions_are_references(routes: RouteService, kit: Kit) -> None:
    routes.add("GET", "/two", FN, "2")
    routes.add(None, "/two-again", FN, "2", host="b.example.com")
    routes.add(None, "/prod", FN, "prod")
    with kit.store.read() as tx:
        function_id = tx.functions.get(FN).id  # type: ignore[union-attr]
        pinned = tx.routes.references(function_id)
    assert pinned == {2: ["route GET /two", "route ANY b.example.com/two-again"]}


def test_deleting_the_function_deletes_its_routes_and_the_table_forgets_them(
    routes: RouteService, kit: Kit
) -> None:
    routes.add(None, "/gone", FN, "prod")
    assert routes.table().match("GET", "", "/gone") is not None
    kit.services.functions.delete(FN)
    assert routes.peek() is None  # the change feed made it stale
    assert routes.list() == []
    assert routes.table().match("GET", "", "/gone") is None


def test_the_table_goes_stale_after_its_cache_time(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    fresh = RouteService(kit.store, kit.clock, kit.services.changes, cache_seconds=0)
    kit.services.routes.add(None, "/elsewhere", FN, None)  # as if made on another node
    assert fresh.peek() is None
    assert fresh.table().match("POST", "", "/elsewhere") is not None


def test_a_stale_table_keeps_serving_while_one_caller_reads_it_again(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    node = RouteService(kit.store, kit.clock, kit.services.changes, cache_seconds=0)
    assert node.serving() == (None, False)  # never read: the caller reads it first
    kit.services.routes.add(None, "/elsewhere", FN, None)
    old = node.reload()
    assert node.serving() == (old, True)  # past its age: served, and this caller starts the reload
    assert node.serving() == (old, False)  # the others keep serving it meanwhile, no second reload
    fresh = node.reload()
    assert fresh is not old and fresh.match("GET", "", "/elsewhere") is not None
    assert node.serving() == (fresh, True)  # (cache_seconds=0: at once stale again)


def test_a_table_a_change_dropped_is_not_served_stale(routes: RouteService, kit: Kit) -> None:
    routes.add(None, "/gone", FN, "prod")
    assert routes.serving()[0] is not None
    kit.services.functions.delete(FN)
    assert routes.serving() == (None, False)  # read it first: the deleted function's route never matches


def test_routes_added_at_the_same_moment_make_one_route_and_conflicts(routes: RouteService) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def add() -> None:
        barrier.wait()
        try:
            routes.add("GET", "/race/{id}", FN, "prod")
            outcomes.append("added")
        except RouteConflict:
            outcomes.append("RouteConflict")

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["RouteConflict"] * 3 + ["added"]
    assert len(routes.list()) == 1


def test_aliases_followed_by_routes_are_listed(routes: RouteService, kit: Kit) -> None:
    routes.add("GET", "/a", FN, "prod")
    routes.add(None, "/b", FN, "2")
    routes.add(None, "/c", FN, None)
    with kit.store.read() as tx:
        function_id = tx.functions.get(FN).id  # type: ignore[union-attr]
        assert tx.routes.alias_references(function_id) == {"prod": ["route GET /a"]}


def test_an_alias_that_triggers_follow_cannot_be_deleted_until_they_are_gone(
    routes: RouteService, kit: Kit
) -> None:
    kit.alias(FN, "staging", 2)
    route = routes.add("POST", "/orders", FN, "prod")
    kit.services.schedules.add(NewSchedule("nightly", "cron(0 3 * * ? *)", FN, "prod"))
    kit.services.schedules.add(NewSchedule("pinned", "rate(1 hour)", FN, "2"))
    with pytest.raises(AliasInUse) as refused:
        kit.services.aliases.delete(FN, "prod", actor="ops")
    assert refused.value.details["triggers"] == ["route POST /orders", "schedule nightly"]
    assert "route POST /orders, schedule nightly" in refused.value.message
    assert kit.services.aliases.get(FN, "prod").routing.versions == (1,)  # nothing half-done
    assert [e.action.value for e in kit.services.aliases.history(FN, "prod")] == ["create"]
    kit.services.aliases.delete(FN, "staging", actor="ops")  # followed by nothing: goes
    routes.remove(route.id)
    with pytest.raises(AliasInUse, match="schedule nightly"):
        kit.services.aliases.delete(FN, "prod", actor="ops")
    kit.services.schedules.delete("nightly")
    kit.services.aliases.delete(FN, "prod", actor="ops")
    with pytest.raises(AliasNotFound):
        kit.services.aliases.get(FN, "prod")
