"""Routing through aliases end to end: weighted splits, sticky routing keys, overrides, alias changes."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from tests.integration.runtime_support import invoke, ok, point, probe, release, token
from tests.support import Server, error_code, unique

pytestmark = pytest.mark.integration


def two_versions(api: httpx.Client) -> str:
    name = unique("route")
    assert release(api, name, probe("v1")) == 1
    assert release(api, name, probe("v2")) == 2
    return name


def served(response: httpx.Response) -> str:
    """The version that answered, checked against what its code says it is."""
    version = response.headers["X-Turnout-Version"]
    assert ok(response)["marker"] == f"v{version}"
    return version


def test_a_70_30_split_serves_each_version_its_share(api: httpx.Client) -> None:
    name = two_versions(api)
    point(api, name, "prod", weights={"1": 70, "2": 30})
    counts = Counter(served(invoke(api, name, "prod")) for _ in range(1000))
    assert set(counts) == {"1", "2"}
    assert abs(counts["2"] / 1000 - 0.30) <= 0.05, counts


def test_a_routing_key_sticks_to_one_version_and_a_growing_canary_keeps_its_keys(api: httpx.Client) -> None:
    name = two_versions(api)
    point(api, name, "prod", weights={"1": 90, "2": 10})
    keys = [f"user-{i}" for i in range(200)]

    def route(key: str) -> str:
        return served(invoke(api, name, "prod", headers={"X-Turnout-Routing-Key": key}))

    before = {key: route(key) for key in keys}
    assert {key: route(key) for key in keys} == before  # same weights: same version for every key
    canary = {key for key, version in before.items() if version == "2"}
    assert 5 <= len(canary) <= 40  # about 10% of 200

    point(api, name, "prod", weights={"1": 50, "2": 50})
    after = {key: route(key) for key in keys}
    assert all(after[key] == "2" for key in canary)  # nobody on the canary is moved off it
    assert 70 <= sum(v == "2" for v in after.values()) <= 130  # about half now


def test_a_version_override_needs_the_deploy_scope(server: Server, api: httpx.Client) -> None:
    name = two_versions(api)
    point(api, name, "prod", version=1)
    override = {"X-Turnout-Version-Override": "2"}

    assert served(invoke(api, name, "prod")) == "1"
    assert served(invoke(api, name, "prod", headers=override)) == "2"  # admin
    with server.client(token(api, unique("deployer"), "deploy", "invoke")) as deployer:
        response = invoke(deployer, name, "prod", headers=override)
        assert served(response) == "2"
        assert ok(response)["context"]["invoked_function_arn"].endswith(f":function:{name}:prod")
    with server.client(token(api, unique("caller"), "invoke")) as caller:
        assert served(invoke(caller, name, "prod")) == "1"
        refused = invoke(caller, name, "prod", headers=override)
        assert (refused.status_code, error_code(refused)) == (403, "Forbidden")

    missing = invoke(api, name, "prod", headers={"X-Turnout-Version-Override": "7"})
    assert (missing.status_code, error_code(missing)) == (404, "VersionNotFound")
    bad = invoke(api, name, "prod", headers={"X-Turnout-Version-Override": "latest"})
    assert (bad.status_code, error_code(bad)) == (400, "InvalidVersionNumber")  # README, "Version numbers"


def test_an_alias_change_applies_to_the_very_next_request(api: httpx.Client) -> None:
    name = two_versions(api)
    point(api, name, "prod", version=1)
    assert served(invoke(api, name, "prod")) == "1"
    for target in ("2", "1", "2", "1", "2"):
        point(api, name, "prod", version=int(target))
        assert served(invoke(api, name, "prod")) == target
    point(api, name, "prod", weights={"1": 1, "2": 99})
    point(api, name, "prod", version=1)
    assert served(invoke(api, name, "prod")) == "1"
