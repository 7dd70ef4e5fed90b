"""Matching requests to HTTP routes: path segments, parameters, greedy prefixes, hosts, methods, and
which route wins when several match."""

from __future__ import annotations

import doctest

import pytest

from turnout.cli import routes as cli_routes
from turnout.domain import route_table as route_table_module
from turnout.domain.route_table import (
    RESERVED_PREFIXES,
    Route,
    RouteTable,
    check_host,
    check_method,
    check_token,
    parse_path,
    shape,
)
from turnout.errors import InvalidInput


def table(*specs: tuple[str, str] | tuple[str, str, str]) -> RouteTable:
    """Routes from (method, path[, host]); each route's function is named after its position."""
    routes = []
    for index, spec in enumerate(specs, start=1):
        method, path, host = (*spec, "")[:3]
        routes.append(Route.of(index, method, host, path, f"fn{index}", "prod"))
    return RouteTable(routes)


def winner(routes: RouteTable, method: str, path: str, host: str = "example.com") -> tuple[str, dict] | None:
    found = routes.match(method, host, path)
    return None if found is None else (found.route.function, found.parameters)


def test_exact_paths_match_only_themselves() -> None:
    routes = table(("ANY", "/hello"), ("ANY", "/"))
    assert winner(routes, "GET", "/hello") == ("fn1", {})
    assert winner(routes, "GET", "/") == ("fn2", {})
    assert winner(routes, "GET", "/hello/x") is None
    assert winner(routes, "GET", "/hello/") is None
    assert winner(routes, "GET", "/hell") is None


def test_parameters_take_one_segment_decoded() -> None:
    routes = table(("GET", "/items/{id}/photos/{photo}"))
    assert winner(routes, "GET", "/items/7/photos/a%20b") == ("fn1", {"id": "7", "photo": "a b"})
    assert winner(routes, "GET", "/items/7/photos") is None
    assert winner(routes, "GET", "/items//photos/x") is None


def test_a_greedy_segment_is_a_prefix_of_one_or_more_segments() -> None:
    routes = table(("ANY", "/api/{proxy+}"))
    assert winner(routes, "POST", "/api/a/b/c") == ("fn1", {"proxy": "a/b/c"})
    assert winner(routes, "POST", "/api/a") == ("fn1", {"proxy": "a"})
    assert winner(routes, "POST", "/api") is None
    assert winner(routes, "POST", "/api/") is None
    assert winner(routes, "POST", "/apix/a") is None


def test_literal_beats_parameter_beats_greedy_whatever_the_order_added() -> None:
    routes = table(
        ("ANY", "/{proxy+}"), ("ANY", "/items/{id}"), ("ANY", "/items/new"), ("ANY", "/items/{p+}")
    )
    assert winner(routes, "GET", "/items/new") == ("fn3", {})
    assert winner(routes, "GET", "/items/9") == ("fn2", {"id": "9"})
    assert winner(routes, "GET", "/items/9/x") == ("fn4", {"p": "9/x"})
    assert winner(routes, "GET", "/other") == ("fn1", {"proxy": "other"})
    # the earlier literal segment decides before a later one
    routes = table(("ANY", "/{a}/b"), ("ANY", "/a/{b}"))
    assert winner(routes, "GET", "/a/b") == ("fn2", {"b": "b"})


def test_a_named_method_beats_any_and_get_serves_head() -> None:
    routes = table(("ANY", "/x"), ("GET", "/x"), ("POST", "/y"))
    assert winner(routes, "GET", "/x")[0] == "fn2"  # type: ignore[index]
    assert winner(routes, "HEAD", "/x")[0] == "fn2"  # type: ignore[index]
    assert winner(routes, "DELETE", "/x")[0] == "fn1"  # type: ignore[index]
    assert winner(routes, "GET", "/y") is None


def test_a_host_route_beats_any_host_and_ignores_port_and_case() -> None:
    routes = table(("ANY", "/{proxy+}", "api.example.com"), ("GET", "/status"))
    assert winner(routes, "GET", "/status", "API.example.com:8420") == ("fn1", {"proxy": "status"})
    assert winner(routes, "GET", "/status", "other.example.com") == ("fn2", {})
    assert winner(routes, "GET", "/else", "other.example.com") is None


def test_turnout_paths_are_never_matched_nor_accepted() -> None:
    routes = table(("ANY", "/{proxy+}"))
    for prefix in RESERVED_PREFIXES:
        assert winner(routes, "GET", prefix) is None
        assert winner(routes, "GET", prefix + "/anything") is None
        with pytest.raises(InvalidInput, match="Turnout's own"):
            parse_path(prefix + "/x")
    assert winner(routes, "GET", "/v10") == ("fn1", {"proxy": "v10"})
    assert parse_path("/v10") and parse_path("/documents")


@pytest.mark.parametrize(
    "path",
    ["", "items", "/a//b", "/a/{proxy+}/b", "/{x}/{x}", "/a/{1x}", "/a b", "/a/{x", "/" + "a" * 1100],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        parse_path(path)


def test_the_shape_ignores_parameter_names() -> None:
    assert shape(parse_path("/items/{id}")) == shape(parse_path("/items/{key}"))
    assert shape(parse_path("/items/{id}")) != shape(parse_path("/items/{id+}"))
    assert shape(parse_path("/")) == "/"


def test_methods_hosts_and_sticky_names_are_checked() -> None:
    assert (check_method(None), check_method("post")) == ("ANY", "POST")
    assert (check_host(None), check_host("Shop.Example.COM")) == ("", "shop.example.com")
    assert check_token("cookie", "tv_1") == "tv_1"
    for bad in (lambda: check_method("FETCH"), lambda: check_host("a:80"), lambda: check_host("-x")):
        with pytest.raises(InvalidInput):
            bad()
    with pytest.raises(InvalidInput):
        check_token("cookie", "a b")


def test_route_keys_and_labels() -> None:
    route = Route.of(3, "GET", "api.example.com", "/items/{id}", "shop", "prod")
    assert route.route_key == "GET /items/{id}"
    assert route.label() == "route GET api.example.com/items/{id}"
    assert len(RouteTable()) == 0 and RouteTable().match("GET", "", "/x") is None


def test_the_examples_in_the_docstrings_hold() -> None:
    assert doctest.testmod(route_table_module).failed == 0
    assert doctest.testmod(cli_routes).failed == 0


def test_a_table_remembers_recent_answers_and_forgets_them_past_its_bound() -> None:
    table = route_table_module.RouteTable(
        [route_table_module.Route.of(1, "GET", "", "/items/{id}", "fn", "live")]
    )
    first = table.match("GET", "a.example:8420", "/items/7")
    assert first is not None and first.parameters == {"id": "7"}
    assert table.match("GET", "a.example:8420", "/items/7") is first  # the remembered answer
    assert table.match("POST", "a.example:8420", "/items/7") is None
    assert table.match("POST", "a.example:8420", "/items/7") is None  # a remembered miss too
    for n in range(route_table_module.MEMO_SIZE + 10):
        found = table.match("GET", "", f"/items/{n}")
        assert found is not None and found.parameters == {"id": str(n)}
    assert len(table._memo) <= route_table_module.MEMO_SIZE
