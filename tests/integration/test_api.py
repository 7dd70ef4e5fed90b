"""The HTTP contract of the native API: status codes, ETags and If-Match, pagination, shapes."""

from __future__ import annotations

import httpx
import pytest

from tests.support import HELLO, deploy, error_code, make_zip, publish, unique

pytestmark = pytest.mark.integration


def test_create_is_201_update_is_200_and_an_unchanged_deploy_keeps_the_revision(api: httpx.Client) -> None:
    name = unique()
    sha = api.post("/v1/bundles", content=make_zip({"app.py": HELLO})).json()["sha256"]
    body = {"bundle_sha256": sha, "handler": "app.handler"}
    created = api.put(f"/v1/functions/{name}", json=body)
    assert created.status_code == 201
    again = api.put(f"/v1/functions/{name}", json=body)
    assert again.status_code == 200
    assert again.json()["revision_id"] == created.json()["revision_id"]
    changed = api.put(f"/v1/functions/{name}", json={"memory": 512})
    assert changed.json()["revision_id"] != created.json()["revision_id"]


def test_publish_is_201_when_new_and_200_when_nothing_changed(api: httpx.Client) -> None:
    name = unique()
    deploy(api, name)
    first = api.post(f"/v1/functions/{name}/versions")
    assert first.status_code == 201 and first.json()["created"] is True
    second = api.post(f"/v1/functions/{name}/versions")
    assert second.status_code == 200 and second.json()["version"] == first.json()["version"]


def test_etag_and_if_match_guard_drafts_and_aliases(api: httpx.Client) -> None:
    name = unique()
    deploy(api, name)
    etag = api.get(f"/v1/functions/{name}").headers["ETag"]
    assert (
        api.put(f"/v1/functions/{name}", json={"timeout": 5}, headers={"If-Match": etag}).status_code == 200
    )
    stale = api.put(f"/v1/functions/{name}", json={"timeout": 6}, headers={"If-Match": etag})
    assert stale.status_code == 412 and error_code(stale) == "PreconditionFailed"
    assert api.get(f"/v1/functions/{name}").json()["config"]["timeout"] == 5

    publish(api, name)
    alias = api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
    alias_etag = alias.headers["ETag"]
    moved = api.put(
        f"/v1/functions/{name}/aliases/prod", json={"description": "x"}, headers={"If-Match": alias_etag}
    )
    assert moved.status_code == 200
    stale_alias = api.put(
        f"/v1/functions/{name}/aliases/prod", json={"description": "y"}, headers={"If-Match": alias_etag}
    )
    assert error_code(stale_alias) == "PreconditionFailed"


def test_publish_preconditions_over_http(api: httpx.Client) -> None:
    name = unique()
    draft = deploy(api, name)
    wrong = api.post(f"/v1/functions/{name}/versions", json={"code_sha256": "0" * 64})
    assert wrong.status_code == 412
    assert api.get(f"/v1/functions/{name}/versions").json()["versions"] == []
    right = api.post(
        f"/v1/functions/{name}/versions",
        json={"code_sha256": draft["code_sha256"], "revision_id": draft["revision_id"]},
    )
    assert right.status_code == 201


def test_functions_and_versions_are_paginated(api: httpx.Client) -> None:
    prefix = unique("page")
    for i in range(3):
        deploy(api, f"{prefix}-{i}")
    first = api.get("/v1/functions", params={"after": prefix, "limit": 2}).json()
    assert [f["name"] for f in first["functions"]] == [f"{prefix}-0", f"{prefix}-1"]
    rest = api.get("/v1/functions", params={"after": first["next"], "limit": 2}).json()
    assert rest["functions"][0]["name"] == f"{prefix}-2"

    name = f"{prefix}-0"
    for timeout in (10, 11, 12):
        deploy(api, name, timeout=timeout)
        publish(api, name)
    page = api.get(f"/v1/functions/{name}/versions", params={"limit": 2}).json()
    assert [v["version"] for v in page["versions"]] == [1, 2] and page["next"] == 2
    tail = api.get(f"/v1/functions/{name}/versions", params={"after": 2}).json()
    assert [v["version"] for v in tail["versions"]] == [3]


def test_describe_shows_the_draft_versions_and_aliases_with_secrets_masked(api: httpx.Client) -> None:
    name = unique()
    deploy(api, name, environment={"MODE": "a", "DB_PASSWORD": "hunter2"})
    publish(api, name)
    api.put(
        f"/v1/functions/{name}/aliases/prod",
        json={"version": 1, "settings": {"TIER": "gold", "PAYMENT_KEY": "sk"}},
    )
    described = api.get(f"/v1/functions/{name}").json()
    assert described["versions"] == {"count": 1, "latest": 1}
    assert described["config"]["environment"] == {"DB_PASSWORD": "****", "MODE": "a"}
    assert described["aliases"][0]["settings"] == {"PAYMENT_KEY": "****", "TIER": "gold"}
    assert "hunter2" not in api.get(f"/v1/functions/{name}/versions/1").text
    revealed = api.get(f"/v1/functions/{name}", params={"reveal": "true"}).json()
    assert revealed["config"]["environment"]["DB_PASSWORD"] == "hunter2"


def test_deleting_a_function_removes_it_and_its_versions(api: httpx.Client) -> None:
    name = unique()
    deploy(api, name)
    publish(api, name)
    api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
    assert api.delete(f"/v1/functions/{name}").status_code == 204
    assert error_code(api.get(f"/v1/functions/{name}")) == "FunctionNotFound"
    assert error_code(api.get(f"/v1/functions/{name}/versions/1")) == "FunctionNotFound"
