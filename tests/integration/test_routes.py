"""HTTP routes end to end (issue 6, acceptance 1): routes added through the API and the CLI, served on
the real server's port to a plain HTTP client.

A route bound to an alias follows it through a move and a rollback; one pinned to a version stays on it;
a plain handler and a Mangum-wrapped Starlette app answer through routes (binary bodies, cookies,
headers, path parameters); sticky cookies keep a browser on one version of a 50/50 split; the
X-Turnout-Version header reaches the versions behind an alias; conflicts and Turnout's own paths are
refused; a path no route matches is the app's 404. Routes live in the session's shared server, so each
test uses its own path prefix or host name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.integration.runtime_support import point, release
from tests.support import Server, deploy, error_code, unique, wait_for
from turnout.cli.main import app as cli_app

pytestmark = pytest.mark.integration

PLAIN = """\
MARKER = {marker!r}


def handler(event, context):
    path = event["rawPath"]
    if path.endswith("/binary"):
        return {{
            "statusCode": 200,
            "headers": {{"Content-Type": "application/octet-stream", "X-Marker": MARKER}},
            "body": event["body"],
            "isBase64Encoded": event["isBase64Encoded"],
        }}
    if path.endswith("/cookies"):
        return {{
            "statusCode": 201,
            "headers": {{"Content-Type": "text/plain", "X-Custom": "yes"}},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": ";".join(event.get("cookies", [])),
        }}
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    return {{"marker": MARKER, "event": event}}
"""

MANGUM_REQUIREMENTS = """\
mangum==0.22.0
starlette==0.52.1
anyio==4.16.0
idna==3.20
typing-extensions==4.16.0
"""

MANGUM_APP = '''\
"""A Starlette app served through Mangum."""

from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    response = JSONResponse(
        {
            "path": request.url.path,
            "name": request.path_params["name"],
            "session": request.cookies.get("session"),
            "agent": request.headers.get("x-agent"),
        }
    )
    response.set_cookie("seen", "yes")
    return response


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body[::-1], media_type="application/octet-stream", headers={"X-Length": str(len(body))})


app = Starlette(routes=[Route("/hello/{name}", hello), Route("/echo", echo, methods=["POST"])])
handler = Mangum(app, lifespan="off")
'''


def plain(marker: str) -> dict[str, str]:
    return {"app.py": PLAIN.format(marker=marker)}


@pytest.fixture
def web() -> Iterator[httpx.Client]:
    """A plain HTTP client: no token."""
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def fn(api: httpx.Client) -> str:
    """A plain handler with versions 1, 2 and 3 (markers v1..v3); alias ``prod`` on 1."""
    name = unique("route")
    for n in (1, 2, 3):
        assert release(api, name, plain(f"v{n}")) == n
    point(api, name, "prod", version=1)
    return name


def add(api: httpx.Client, path: str, function: str, qualifier: str | None, **body: Any) -> dict[str, Any]:
    response = api.post(
        "/v1/routes", json={"path": path, "function": function, "qualifier": qualifier, **body}
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def marker(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.status_code, response.text)
    return str(response.json()["marker"])


def test_an_alias_route_follows_the_alias_and_a_pinned_route_stays(
    api: httpx.Client, fn: str, server: Server, web: httpx.Client
) -> None:
    prefix = f"/{fn}"
    follows = add(api, prefix + "/follow", fn, "prod", method="GET")
    pinned = add(api, prefix + "/pinned", fn, "2")
    assert (follows["qualifier"], pinned["qualifier"], pinned["method"]) == ("prod", "2", "ANY")

    def both() -> tuple[str, str]:
        return marker(web.get(server.url + prefix + "/follow")), marker(
            web.post(server.url + prefix + "/pinned")
        )

    assert both() == ("v1", "v2")
    point(api, fn, "prod", version=3)
    assert both() == ("v3", "v2")
    rolled = api.post(f"/v1/functions/{fn}/aliases/prod/rollback")
    assert rolled.status_code == 200, rolled.text
    assert both() == ("v1", "v2")
    point(api, fn, "prod", version=2)
    assert both() == ("v2", "v2")

    # a GET route does not answer POST: that falls through to the app's 404
    assert web.post(server.url + prefix + "/follow").status_code in (404, 405)
    listed = api.get("/v1/routes", params={"function": fn}).json()["routes"]
    assert [r["id"] for r in listed] == [follows["id"], pinned["id"]]


def test_a_plain_handler_gets_the_event_and_shapes_the_response(
    api: httpx.Client, fn: str, server: Server, web: httpx.Client
) -> None:
    base = server.url + f"/{fn}"
    add(api, f"/{fn}/items/{{id}}", fn, "prod", method="GET")
    add(api, f"/{fn}/files/{{proxy+}}", fn, "prod")

    got = web.get(base + "/items/42", params={"q": "a b"}, headers={"X-Trace": "t1", "Cookie": "s=1; t=2"})
    assert got.headers["x-turnout-version"] == "1" and got.headers["x-turnout-request-id"]
    event = got.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == f"GET /{fn}/items/{{id}}"
    assert event["rawPath"] == f"/{fn}/items/42" and event["rawQueryString"] == "q=a+b"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"q": "a b"}
    assert event["headers"]["x-trace"] == "t1" and event["cookies"] == ["s=1", "t=2"]
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["isBase64Encoded"] is False

    greedy = web.delete(base + "/files/a/b.txt").json()["event"]
    assert greedy["pathParameters"] == {"proxy": "a/b.txt"}
    assert greedy["routeKey"] == f"ANY /{fn}/files/{{proxy+}}"

    blob = bytes(range(256)) * 4
    binary = web.post(base + "/files/binary", content=blob, headers={"Content-Type": "image/png"})
    assert binary.status_code == 200, binary.text
    assert binary.content == blob and binary.headers["content-type"] == "application/octet-stream"
    assert binary.headers["x-marker"] == "v1"

    cookies = web.put(base + "/files/cookies", headers={"Cookie": "k=v"})
    assert (cookies.status_code, cookies.text) == (201, "k=v")
    assert cookies.headers["x-custom"] == "yes" and cookies.headers["content-type"] == "text/plain"
    assert cookies.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]

    failed = web.get(base + "/files/fail")
    assert (failed.status_code, failed.json()) == (502, {"message": "Internal Server Error"})

    head = web.head(base + "/items/1")
    assert head.status_code == 200 and head.content == b""

    too_big = web.post(base + "/files/x", content=b"x" * (6 * 1024 * 1024 + 1))
    assert too_big.status_code == 413 and error_code(too_big) == "RequestTooLarge"


def test_a_mangum_app_answers_through_a_host_route(
    api: httpx.Client, server: Server, web: httpx.Client
) -> None:
    name = unique("mangum")
    deploy(api, name, {"app.py": MANGUM_APP, "requirements.txt": MANGUM_REQUIREMENTS})
    published = api.post(f"/v1/functions/{name}/versions", json={}, timeout=300)
    assert published.status_code == 201, published.text
    point(api, name, "live", version=1)
    host = f"{name}.apps.test"
    add(api, "/{proxy+}", name, "live", host=host)

    hello = web.get(
        server.url + "/hello/Ada",
        headers={"Host": f"{host}:8080", "X-Agent": "pytest", "Cookie": "session=s1"},
    )
    assert hello.status_code == 200, hello.text
    assert hello.json() == {"path": "/hello/Ada", "name": "Ada", "session": "s1", "agent": "pytest"}
    assert hello.headers["x-turnout-version"] == "1"
    assert hello.headers["set-cookie"].startswith("seen=yes")

    blob = bytes(range(256))[::-1] * 3
    echoed = web.post(
        server.url + "/echo", content=blob, headers={"Host": host, "Content-Type": "application/octet-stream"}
    )
    assert echoed.status_code == 200, echoed.text
    assert echoed.content == blob[::-1] and echoed.headers["x-length"] == str(len(blob))
    assert echoed.headers["content-type"] == "application/octet-stream"

    # the host route is only for its host: elsewhere the same path is the app's
    assert web.get(server.url + "/hello/Ada").status_code == 404


def test_a_sticky_cookie_keeps_a_browser_on_one_version_of_a_split(
    api: httpx.Client, fn: str, server: Server
) -> None:
    point(api, fn, "split", weights={"1": 50, "2": 50})
    path = f"/{fn}/sticky"
    add(api, path, fn, "split", sticky_cookie="tv")
    add(api, path + "-header", fn, "split", sticky_header="X-User")

    seen = set()
    for _ in range(16):
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            first = browser.get(path)
            cookie = first.headers["set-cookie"]
            assert cookie.startswith("tv=") and "Path=/" in cookie and "HttpOnly" in cookie
            assert "SameSite=Lax" in cookie
            version = marker(first)
            for _ in range(5):
                again = browser.get(path)
                assert marker(again) == version and "set-cookie" not in again.headers
            seen.add(version)
    assert seen == {"v1", "v2"}  # browsers spread over both versions, each one stays

    with httpx.Client(base_url=server.url, timeout=30) as web:
        by_header = {marker(web.get(path + "-header", headers={"X-User": "ada"})) for _ in range(8)}
        assert len(by_header) == 1


def test_the_version_header_reaches_versions_behind_the_alias_only(
    api: httpx.Client, fn: str, server: Server, web: httpx.Client
) -> None:
    point(api, fn, "canary", weights={"1": 90, "2": 10})
    base = server.url + f"/{fn}"
    add(api, f"/{fn}/canary", fn, "canary")
    add(api, f"/{fn}/pinned", fn, "3")

    assert marker(web.get(base + "/canary", headers={"X-Turnout-Version": "2"})) == "v2"
    assert marker(web.get(base + "/canary", headers={"X-Turnout-Version": "1"})) == "v1"
    for wanted in ("3", "x", "0"):
        refused = web.get(base + "/canary", headers={"X-Turnout-Version": wanted})
        assert refused.status_code == 404 and error_code(refused) == "NotFound"
    assert marker(web.get(base + "/pinned", headers={"X-Turnout-Version": "3"})) == "v3"
    assert web.get(base + "/pinned", headers={"X-Turnout-Version": "2"}).status_code == 404

    point(api, fn, "canary", version=1)  # 2 is no longer behind the alias
    assert web.get(base + "/canary", headers={"X-Turnout-Version": "2"}).status_code == 404


def test_conflicts_reserved_paths_and_unknown_targets_are_refused(
    api: httpx.Client, fn: str, server: Server, web: httpx.Client
) -> None:
    made = add(api, f"/{fn}/items/{{id}}", fn, "prod", method="GET")

    def refused(status: int, code: str, **body: Any) -> None:
        response = api.post("/v1/routes", json={"function": fn, "qualifier": "prod", **body})
        assert (response.status_code, error_code(response)) == (status, code), response.text

    refused(409, "RouteConflict", path=f"/{fn}/items/{{key}}", method="get")
    for path in ("/v1/mine", "/2015-03-31/functions", "/lambda-url/x", "/metrics", "/docs", "/openapi.json"):
        refused(400, "InvalidParameterValue", path=path)
    refused(400, "InvalidParameterValue", path="no-slash")
    refused(404, "FunctionNotFound", path="/x", function=unique("nope"))
    refused(404, "AliasNotFound", path="/x", qualifier="staging")
    refused(404, "VersionNotFound", path="/x", qualifier="9")

    token = api.post("/v1/tokens", json={"name": unique("reader"), "scopes": ["read"]}).json()["token"]
    with server.client(token) as reader:
        assert reader.get("/v1/routes").status_code == 200
        assert reader.post("/v1/routes", json={"path": "/y", "function": fn}).status_code == 403
        assert reader.delete(f"/v1/routes/{made['id']}").status_code == 403

    # a path no route matches is the app's own 404; a removed route's path too
    unknown = web.get(server.url + f"/{fn}/nothing-here")
    assert unknown.status_code == 404 and error_code(unknown) == "NotFound"
    assert web.get(server.url + f"/{fn}/items/1").status_code == 200
    assert api.delete(f"/v1/routes/{made['id']}").status_code == 204
    assert web.get(server.url + f"/{fn}/items/1").status_code == 404
    gone = api.delete(f"/v1/routes/{made['id']}")
    assert (gone.status_code, error_code(gone)) == (404, "RouteNotFound")


def test_the_cli_adds_lists_and_removes_routes(
    fn: str, server: Server, tmp_path: Path, web: httpx.Client
) -> None:
    runner = CliRunner()
    env = {
        "TURNOUT_URL": server.url,
        "TURNOUT_TOKEN": server.token,
        "TURNOUT_DATA_DIR": str(tmp_path / "none"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli_app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    made = json.loads(cli("route", "add", "POST", f"/{fn}/cli/{{name}}", f"{fn}:prod", "-o", "json"))
    assert (made["method"], made["qualifier"]) == ("POST", "prod")
    text = cli("route", "add", f"/{fn}/pinned", f"{fn}:3", "--sticky-header", "X-User")
    assert text.startswith("route ") and f"ANY /{fn}/pinned → {fn}:3" in text
    assert "RouteConflict" in cli("route", "add", "POST", f"/{fn}/cli/{{x}}", f"{fn}:prod", code=1)
    assert "InvalidParameterValue" in cli("route", "add", "/v1/x", f"{fn}:prod", code=1)

    listed = json.loads(cli("route", "ls", "-o", "json", "--function", fn))["routes"]
    assert [r["path"] for r in listed] == [f"/{fn}/cli/{{name}}", f"/{fn}/pinned"]
    table = cli("route", "ls", "--function", fn)
    assert f"{fn}:prod" in table and "header X-User" in table

    answered = web.post(server.url + f"/{fn}/cli/ada")
    assert answered.json()["event"]["pathParameters"] == {"name": "ada"}
    cli("route", "rm", str(made["id"]))
    wait_for(lambda: web.post(server.url + f"/{fn}/cli/ada").status_code == 404, what="route removed")


def test_describe_lists_the_functions_triggers_with_their_qualifiers(api: httpx.Client, fn: str) -> None:
    add(api, f"/{fn}/pinned", fn, "2", method="GET")
    add(api, f"/{fn}/live", fn, "prod")
    made = api.post(
        "/v1/schedules",
        json={"name": f"{fn}-daily", "expression": "rate(1 day)", "function": f"{fn}:prod"},
    )
    assert made.status_code == 201, made.text
    triggers = api.get(f"/v1/functions/{fn}").json()["triggers"]
    assert sorted((r["path"], r["qualifier"]) for r in triggers["routes"]) == [
        (f"/{fn}/live", "prod"),
        (f"/{fn}/pinned", "2"),
    ]
    assert [(s["name"], s["qualifier"]) for s in triggers["schedules"]] == [(f"{fn}-daily", "prod")]
    on_prod = api.get(f"/v1/functions/{fn}/aliases/prod").json()["triggers"]  # `describe fn:prod`
    assert [r["path"] for r in on_prod["routes"]] == [f"/{fn}/live"]
    assert [s["name"] for s in on_prod["schedules"]] == [f"{fn}-daily"]
    on_two = api.get(f"/v1/functions/{fn}/versions/2").json()["triggers"]  # `describe fn:2`
    assert ([r["path"] for r in on_two["routes"]], on_two["schedules"]) == ([f"/{fn}/pinned"], [])
    deleted = api.delete(f"/v1/functions/{fn}/versions/2")
    assert (deleted.status_code, error_code(deleted)) == (409, "VersionInUse")


def test_a_queued_route_answers_202_and_the_event_runs_from_the_queue(
    api: httpx.Client, web: httpx.Client, server: Server, fn: str
) -> None:
    add(api, f"/{fn}/later", fn, "prod", method="POST", queued=True)
    accepted = web.post(f"{server.url}/{fn}/later", content=b'{"n": 1}')
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["request_id"]
    assert accepted.headers["x-turnout-request-id"] == request_id
    event = wait_for(
        lambda: (e := api.get(f"/v1/events/{request_id}").json())["status"] == "succeeded" and e,
        what="the queued route event to run",
    )
    assert event["function"] == fn
    missing = web.post(f"{server.url}/{fn}/later-not-a-route")
    assert missing.status_code == 404
