"""Client input within bounds: version numbers, JSON depth, Host names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.api.hosts import HostPolicy, guarded, host_name
from turnout.domain.json_body import MAX_JSON_DEPTH, check_json, loads_json, too_deep
from turnout.domain.names import check_alias_name
from turnout.domain.routing import parse_target
from turnout.domain.version_number import MAX_VERSION, parse_version_number
from turnout.errors import InvalidJson, InvalidName, InvalidRequestContent, InvalidVersionNumber
from turnout.settings import Settings


@pytest.mark.parametrize("text", ["1", "42", str(MAX_VERSION), " 7 "])
def test_version_numbers_in_ascii_digits_within_range_are_read(text: str) -> None:
    assert parse_version_number(text) == int(text)


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "+3",
        "²",
        "١٢",
        "18446744073709551616",
        str(MAX_VERSION + 1),
        "1e3",
        "",
        "x",
        0,
        -5,
        2**64,
        True,
        1.5,
        None,
    ],
)
def test_anything_else_is_an_invalid_version_number(value: object) -> None:
    with pytest.raises(InvalidVersionNumber) as caught:
        parse_version_number(value)  # type: ignore[arg-type]
    assert caught.value.code == "InvalidVersionNumber" and caught.value.status == 400


def test_alias_targets_use_the_same_parser() -> None:
    assert parse_target("3") == 3
    for wrong in ("²", "18446744073709551616", "-2"):
        with pytest.raises(InvalidVersionNumber):
            parse_target(wrong)


def test_alias_names_that_read_as_numbers_are_refused() -> None:
    for wrong in ("12", "-1", "²"):
        with pytest.raises(InvalidName):
            check_alias_name(wrong)
    assert check_alias_name("v-1") == "v-1"


def test_json_nested_past_the_limit_is_refused_before_parsing() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidJson):
        check_json(deep)
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert loads_json(at_limit) is not None
    with pytest.raises(InvalidJson):
        check_json(b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * 1000, {"k": '{"\\"[[['}]).encode()
    assert not too_deep(text, 2)
    check_json(text, 2)


def test_many_shallow_containers_pass() -> None:
    check_json(json.dumps([{"a": [1]} for _ in range(10_000)]).encode())


def test_a_body_that_is_not_json_is_invalid_content() -> None:
    with pytest.raises(InvalidRequestContent):
        check_json(b"{nope")


def _policy(**settings: object) -> HostPolicy:
    return HostPolicy.from_settings(Settings(data_dir=Path("unused"), **settings))  # type: ignore[arg-type]


def test_the_api_answers_loopback_names_by_default() -> None:
    policy = _policy()
    for host in ("127.0.0.1:8420", "localhost", "LOCALHOST:1", "[::1]:8420"):
        assert policy.allows(host), host
    for host in ("attacker.example", "attacker.example:8420", "127.0.0.1.attacker.example", "", None):
        assert not policy.allows(host), host


def test_public_url_listen_address_and_the_allow_list_are_known_names() -> None:
    policy = _policy(
        host="10.0.0.5", public_url="https://fn.example.com/base", allowed_hosts="api.internal, .corp.example"
    )
    for host in ("10.0.0.5:8420", "fn.example.com", "api.internal:80", "a.corp.example", "corp.example"):
        assert policy.allows(host), host
    assert not policy.allows("evilcorp.example")
    assert not _policy(host="0.0.0.0").allows("0.0.0.0")
    assert _policy(allowed_hosts="*").allows("anything.example")


def test_only_the_control_plane_and_the_lambda_api_are_guarded() -> None:
    assert guarded("/v1/functions/x/invoke") and guarded("/2015-03-31/functions") and guarded("/metrics")
    assert not guarded("/v1/health") and not guarded("/lambda-url/abc/") and not guarded("/shop/cart")
    assert host_name("Example.com.:80") == "example.com."
