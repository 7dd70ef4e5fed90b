"""Every bad input gets a 4xx, a stable code and a useful message, and stores nothing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import HELLO, Server, deploy, error_code, make_zip, publish, unique

pytestmark = pytest.mark.integration


def _blob_count(server: Server) -> int:
    return sum(1 for p in (server.data_dir / "blobs").glob("??/*") if not p.name.startswith(".tmp"))


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with tiny bundle limits, so limit tests need no large uploads."""
    running = Server(
        tmp_path_factory.mktemp("small") / "data",
        extra_env={
            "TURNOUT_BUNDLE_MAX_ZIPPED_BYTES": "20000",
            "TURNOUT_BUNDLE_MAX_UNPACKED_BYTES": "3000000",
            "TURNOUT_BUNDLE_MAX_RATIO": "50",
        },
    ).start()
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "InvalidBundle"),
        (b"this is not a zip", "InvalidBundle"),
        (make_zip({}), "InvalidBundle"),
        (make_zip({"app.py": HELLO, "../escape.py": "x"}), "InvalidBundle"),
        (make_zip({"app.py": HELLO, "/abs/path.py": "x"}), "InvalidBundle"),
        (make_zip({"app.py": HELLO}, symlinks={"link": "/etc/passwd"}), "InvalidBundle"),
        (make_zip({"app.py": HELLO, "requirements.txt": "--index-url http://x.invalid\n"}), "InvalidBundle"),
    ],
    ids=["empty", "not-a-zip", "no-files", "dotdot", "absolute", "symlink", "requirements-option"],
)
def test_bad_bundles_are_refused_and_not_stored(
    server: Server, api: httpx.Client, body: bytes, code: str
) -> None:
    before = _blob_count(server)
    response = api.post("/v1/bundles", content=body)
    assert response.status_code == 400
    assert error_code(response) == code
    assert response.json()["error"]["message"]
    assert _blob_count(server) == before


def test_bundles_over_the_zipped_limit_get_413(small_server: Server) -> None:
    noise = random.Random(7).randbytes(30000)  # incompressible
    with small_server.client() as api:
        response = api.post("/v1/bundles", content=make_zip({"app.py": HELLO, "noise.bin": noise}))
    assert response.status_code == 413
    assert error_code(response) == "BundleTooLarge"
    assert _blob_count(small_server) == 0


def test_bundles_over_the_unpacked_limit_get_413(small_server: Server) -> None:
    lines = "".join(f"line {i} {i * 31 % 97}\n" for i in range(250_000))  # compresses ~10x, > 3 MB
    with small_server.client() as api:
        response = api.post("/v1/bundles", content=make_zip({"app.py": HELLO, "big.txt": lines}))
    assert response.status_code == 413, response.text
    assert error_code(response) == "BundleTooLarge"


def test_zip_bombs_are_refused(small_server: Server) -> None:
    with small_server.client() as api:
        response = api.post("/v1/bundles", content=make_zip({"app.py": HELLO, "zeros": b"\0" * 2_500_000}))
    assert response.status_code == 400
    assert error_code(response) == "InvalidBundle"
    assert "zip bomb" in response.json()["error"]["message"]


def test_a_handler_missing_from_the_bundle_creates_nothing(api: httpx.Client) -> None:
    name = unique()
    sha = api.post("/v1/bundles", content=make_zip({"app.py": HELLO})).json()["sha256"]
    response = api.put(f"/v1/functions/{name}", json={"bundle_sha256": sha, "handler": "main.handler"})
    assert response.status_code == 400
    assert error_code(response) == "Function.HandlerNotFound"
    assert "main.py" in response.json()["error"]["message"]
    assert api.get(f"/v1/functions/{name}").status_code == 404


def test_a_draft_update_that_breaks_the_handler_leaves_the_draft_as_it_was(api: httpx.Client) -> None:
    name = unique()
    draft = deploy(api, name)
    response = api.put(f"/v1/functions/{name}", json={"handler": "missing.handler"})
    assert error_code(response) == "Function.HandlerNotFound"
    after = api.get(f"/v1/functions/{name}").json()
    assert after["revision_id"] == draft["revision_id"]
    assert after["config"]["handler"] == "app.handler"


@pytest.mark.parametrize(
    ("config", "code"),
    [
        ({"timeout": 0}, "InvalidParameterValue"),
        ({"timeout": 901}, "InvalidParameterValue"),
        ({"memory": 64}, "InvalidParameterValue"),
        ({"handler": "no_function"}, "InvalidName"),
        ({"environment": {"AWS_LAMBDA_FUNCTION_NAME": "x"}}, "InvalidName"),
        ({"environment": {"OK": 5}}, "InvalidParameterValue"),
        ({"tiemout": 5}, "InvalidParameterValue"),
    ],
    ids=[
        "timeout-low",
        "timeout-high",
        "memory",
        "handler",
        "reserved-env",
        "env-not-string",
        "unknown-field",
    ],
)
def test_invalid_configuration_is_refused(api: httpx.Client, config: dict, code: str) -> None:
    name = unique()
    sha = api.post("/v1/bundles", content=make_zip({"app.py": HELLO})).json()["sha256"]
    response = api.put(
        f"/v1/functions/{name}", json={"bundle_sha256": sha, "handler": "app.handler", **config}
    )
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert api.get(f"/v1/functions/{name}").status_code == 404


@pytest.mark.parametrize("name", ["has space", "x" * 65, "dots.are.bad"])
def test_invalid_function_names_are_refused(api: httpx.Client, name: str) -> None:
    sha = api.post("/v1/bundles", content=make_zip({"app.py": HELLO})).json()["sha256"]
    response = api.put(f"/v1/functions/{name}", json={"bundle_sha256": sha, "handler": "app.handler"})
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert error_code(response) == "InvalidName"
    names = [f["name"] for f in api.get("/v1/functions", params={"limit": 1000}).json()["functions"]]
    assert name not in names


def test_a_new_function_needs_a_bundle_that_was_uploaded(api: httpx.Client) -> None:
    name = unique()
    missing = api.put(f"/v1/functions/{name}", json={"handler": "app.handler"})
    assert error_code(missing) == "InvalidParameterValue"
    unknown = api.put(f"/v1/functions/{name}", json={"bundle_sha256": "0" * 64, "handler": "app.handler"})
    assert unknown.status_code == 404 and error_code(unknown) == "BundleNotFound"


@pytest.fixture
def two_versions(api: httpx.Client) -> str:
    name = unique()
    deploy(api, name)
    publish(api, name)
    deploy(api, name, timeout=60)
    publish(api, name)
    return name


@pytest.mark.parametrize(
    ("alias", "body", "status", "code"),
    [
        ("prod", {"weights": {"1": 70, "2": 20}}, 400, "InvalidWeights"),
        ("prod", {"weights": {"1": 70.5, "2": 29.4999}}, 400, "InvalidWeights"),
        ("prod", {"weights": {"1": 50, "9": 50}}, 404, "VersionNotFound"),
        ("prod", {"version": 9}, 404, "VersionNotFound"),
        ("prod", {"version": "staging"}, 400, "InvalidAliasTarget"),
        ("prod", {"weights": {"$LATEST": 50, "1": 50}}, 400, "InvalidAliasTarget"),
        ("prod", {"version": 1, "weights": {"1": 100}}, 400, "InvalidParameterValue"),
        ("prod", {}, 400, "InvalidParameterValue"),
        ("123", {"version": 1}, 400, "InvalidName"),
        ("bad name", {"version": 1}, 400, "InvalidName"),
        ("prod", {"version": 1, "settings": {"AWS_LAMBDA_X": "1"}}, 400, "InvalidName"),
    ],
    ids=[
        "sum-90",
        "three-decimals",
        "missing-in-split",
        "missing",
        "alias-to-alias",
        "latest-in-split",
        "both-forms",
        "no-target",
        "digits",
        "space",
        "reserved-setting",
    ],
)
def test_bad_alias_updates_are_refused_and_change_nothing(
    api: httpx.Client, two_versions: str, alias: str, body: dict, status: int, code: str
) -> None:
    response = api.put(f"/v1/functions/{two_versions}/aliases/{alias}", json=body)
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert api.get(f"/v1/functions/{two_versions}/aliases").json()["aliases"] == []


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/v1/functions/{missing}", "FunctionNotFound"),
        ("POST", "/v1/functions/{missing}/versions", "FunctionNotFound"),
        ("GET", "/v1/functions/{fn}/versions/99", "VersionNotFound"),
        ("DELETE", "/v1/functions/{fn}/versions/99", "VersionNotFound"),
        ("GET", "/v1/functions/{fn}/aliases/nope", "AliasNotFound"),
        ("DELETE", "/v1/functions/{fn}/aliases/nope", "AliasNotFound"),
        ("POST", "/v1/functions/{fn}/aliases/nope/rollback", "AliasNotFound"),
        ("GET", "/v1/functions/{fn}/diff?from=1&to=99", "VersionNotFound"),
        ("GET", "/v1/bundles/" + "a" * 64, "BundleNotFound"),
        ("GET", "/v1/no/such/path", "NotFound"),
    ],
)
def test_unknown_things_are_404_with_their_own_code(
    api: httpx.Client, two_versions: str, method: str, path: str, code: str
) -> None:
    response = api.request(method, path.format(fn=two_versions, missing=unique("missing")))
    assert response.status_code == 404
    assert error_code(response) == code


def test_swap_needs_two_existing_distinct_aliases(api: httpx.Client, two_versions: str) -> None:
    api.put(f"/v1/functions/{two_versions}/aliases/prod", json={"version": 1})
    missing = api.post(f"/v1/functions/{two_versions}/swap", json={"a": "prod", "b": "nope"})
    assert error_code(missing) == "AliasNotFound"
    itself = api.post(f"/v1/functions/{two_versions}/swap", json={"a": "prod", "b": "prod"})
    assert error_code(itself) == "InvalidParameterValue"
    assert api.get(f"/v1/functions/{two_versions}/aliases/prod").json()["target"] == "1"


def test_requests_need_a_valid_token(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer tt_wrong"}, {"Authorization": "Basic abc"}):
        response = httpx.get(server.url + "/v1/functions", headers=headers)
        assert response.status_code == 401
        assert error_code(response) == "Unauthorized"
    assert httpx.get(server.url + "/v1/health").status_code == 200


def test_scopes_limit_what_a_token_can_do(server: Server, api: httpx.Client) -> None:
    name = unique("reader")
    created = api.post("/v1/tokens", json={"name": name, "scopes": ["read"]})
    assert created.status_code == 201
    with server.client(created.json()["token"]) as reader:
        assert reader.get("/v1/functions").status_code == 200
        refused = reader.post("/v1/bundles", content=make_zip({"app.py": HELLO}))
        assert refused.status_code == 403 and error_code(refused) == "Forbidden"
        assert error_code(reader.get("/v1/tokens")) == "Forbidden"
        fn = unique()
        deploy(api, fn, environment={"DB_PASSWORD": "hunter2"})
        assert error_code(reader.get(f"/v1/functions/{fn}", params={"reveal": "true"})) == "Forbidden"
        assert reader.get(f"/v1/functions/{fn}").json()["config"]["environment"]["DB_PASSWORD"] == "****"
        assert api.delete(f"/v1/tokens/{name}").status_code == 204
        assert reader.get("/v1/functions").status_code == 401


def test_bad_token_requests_are_refused(api: httpx.Client) -> None:
    assert (
        error_code(api.post("/v1/tokens", json={"name": "x", "scopes": ["root"]})) == "InvalidParameterValue"
    )
    assert error_code(api.post("/v1/tokens", json={"name": "bad name", "scopes": ["read"]})) == "InvalidName"
    assert error_code(api.delete("/v1/tokens/admin")) == "InvalidParameterValue"
    assert error_code(api.delete("/v1/tokens/" + unique("none"))) == "TokenNotFound"


def test_the_admin_token_is_made_at_first_start_and_kept_private(server: Server) -> None:
    token_file: Path = server.data_dir / "admin-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert server.token.startswith("tt_")


def test_an_openapi_document_describes_the_api(server: Server) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    assert spec["info"]["title"] == "Turnout"
    assert "/v1/functions/{name}/versions" in spec["paths"]
    assert "/v1/functions/{name}/aliases/{alias}" in spec["paths"]
