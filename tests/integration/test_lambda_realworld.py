"""Real-world Lambda functions, deployed through boto3 with their dependencies from PyPI (issue 5,
acceptance 2): one written with aws-lambda-powertools (Logger injecting the Lambda context, the function
URL HTTP resolver), one a Starlette ASGI app wrapped with Mangum. Each answers through Invoke (with a
hand-built payload format 2.0 event) and through a function URL (plain HTTP).

The server resolves and installs the pinned requirements with uv at publish, from PyPI; the first
publish of each downloads a few wheels, so the deadlines are generous.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import httpx
import pytest

from tests.support import Server, make_zip, unique

pytestmark = pytest.mark.integration

REGION, ACCOUNT = "us-east-1", "000000000000"

# Exact pins, transitive ones included, so the test installs the same thing every time.
POWERTOOLS_REQUIREMENTS = """\
aws-lambda-powertools==3.37.0
jmespath==1.1.0
typing-extensions==4.16.0
"""
MANGUM_REQUIREMENTS = """\
mangum==0.22.0
starlette==0.52.1
anyio==4.16.0
idna==3.20
typing-extensions==4.16.0
"""

POWERTOOLS_APP = '''\
"""Orders service: aws-lambda-powertools' function URL resolver, and its Logger with the Lambda context."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver
from aws_lambda_powertools.logging import correlation_paths

logger = Logger(service="orders")
app = LambdaFunctionUrlResolver()


@app.get("/hello/<name>")
def hello(name: str) -> dict:
    logger.info("greeting", extra={"who": name})
    return {"message": f"hello {name}", "request_id": app.lambda_context.aws_request_id}


@app.post("/orders")
def create_order() -> tuple:
    order = app.current_event.json_body
    logger.info("order received", extra={"items": len(order["items"])})
    total = sum(item["price"] * item["quantity"] for item in order["items"])
    return {"ref": app.current_event.get_query_string_value("ref", "none"), "total": total}, 201


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
def handler(event: dict, context: object) -> dict:
    return app.resolve(event, context)
'''

MANGUM_APP = '''\
"""A Starlette app served on Lambda through Mangum."""

from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def status(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "path": request.url.path, "method": request.method})


async def search(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "terms": request.query_params.getlist("q"),
            "limit": int(request.query_params.get("limit", "10")),
            "session": request.cookies.get("session"),
        }
    )


async def reverse(request: Request) -> PlainTextResponse:
    text = (await request.body()).decode()
    return PlainTextResponse(text[::-1], status_code=202, headers={"X-Reversed": "yes"})


app = Starlette(
    routes=[Route("/status", status), Route("/search", search), Route("/reverse", reverse, methods=["POST"])]
)
handler = Mangum(app, lifespan="off")
'''


def http_event(
    method: str,
    path: str,
    query: str = "",
    body: str | None = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """A payload format 2.0 event built by hand, as a test harness (or `sam local`) would send it."""
    params: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        params[key] = f"{params[key]},{value}" if key in params else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "abc.lambda-url.us-east-1.on.aws",
            "x-forwarded-proto": "https",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "test",
            },
            "requestId": "hand-built-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": False,
    }
    if params:
        event["queryStringParameters"] = params
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = body
    return event


@pytest.fixture(scope="module")
def lambda_client(server: Server) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="AKIDREALWORLD",
        aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=300),
    )


def deploy(client: Any, files: dict[str, str]) -> tuple[str, str]:
    """CreateFunction (published) and alias ``live`` on version 1, then a function URL on the alias:
    (function name, URL)."""
    name = unique("real")
    created = client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=f"arn:aws:iam::{ACCOUNT}:role/lambda",
        Handler="app.handler",
        Code={"ZipFile": make_zip(files)},
        Timeout=30,
        MemorySize=512,
        Publish=True,
    )
    assert created["Version"] == "1", created
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    url = client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    return name, url["FunctionUrl"]


@pytest.fixture(scope="module")
def powertools(lambda_client: Any) -> tuple[str, str]:
    return deploy(lambda_client, {"app.py": POWERTOOLS_APP, "requirements.txt": POWERTOOLS_REQUIREMENTS})


@pytest.fixture(scope="module")
def mangum(lambda_client: Any) -> tuple[str, str]:
    return deploy(lambda_client, {"app.py": MANGUM_APP, "requirements.txt": MANGUM_REQUIREMENTS})


@pytest.fixture
def web() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as plain:
        yield plain


def invoke(client: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(response, payload, log tail) of Invoke through alias ``live``."""
    response = client.invoke(
        FunctionName=name, Qualifier="live", Payload=json.dumps(event).encode(), LogType="Tail"
    )
    assert "FunctionError" not in response, response["Payload"].read()
    assert response["ExecutedVersion"] == "1"
    payload: dict[str, Any] = json.loads(response["Payload"].read())
    return response, payload, base64.b64decode(response["LogResult"]).decode()


def log_records(tail: str) -> list[dict[str, Any]]:
    """Powertools' JSON log lines from an invocation's log tail."""
    return [json.loads(line) for line in tail.splitlines() if line.startswith("{")]


def test_powertools_answers_invoke_with_its_logger_holding_the_context(
    lambda_client: Any, powertools: tuple[str, str]
) -> None:
    name, _ = powertools
    response, payload, tail = invoke(lambda_client, name, http_event("GET", "/hello/Ada"))
    request_id = response["ResponseMetadata"]["RequestId"]
    assert payload["statusCode"] == 200
    assert json.loads(payload["body"]) == {"message": "hello Ada", "request_id": request_id}

    [record] = [r for r in log_records(tail) if r.get("message") == "greeting"]
    assert record["who"] == "Ada" and record["service"] == "orders" and record["level"] == "INFO"
    assert record["function_name"] == name
    assert record["function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live"
    assert record["function_request_id"] == request_id
    assert record["correlation_id"] == "hand-built-1"  # taken from the event's requestContext

    order = {"items": [{"price": 2.5, "quantity": 2}, {"price": 1, "quantity": 3}]}
    event = http_event("POST", "/orders", "ref=A1", json.dumps(order), {"content-type": "application/json"})
    _, created, _ = invoke(lambda_client, name, event)
    assert created["statusCode"] == 201 and json.loads(created["body"]) == {"ref": "A1", "total": 8.0}


def test_powertools_answers_through_its_function_url(powertools: tuple[str, str], web: httpx.Client) -> None:
    _, url = powertools
    hello = web.get(url + "hello/Grace")
    assert hello.status_code == 200, hello.text
    assert hello.headers["content-type"] == "application/json"
    assert hello.json() == {"message": "hello Grace", "request_id": hello.headers["x-turnout-request-id"]}

    order = {"items": [{"price": 10, "quantity": 1}]}
    created = web.post(url + "orders", params={"ref": "B2"}, json=order)
    assert (created.status_code, created.json()) == (201, {"ref": "B2", "total": 10})

    missing = web.get(url + "nope")
    assert missing.status_code == 404


def test_mangum_answers_invoke(lambda_client: Any, mangum: tuple[str, str]) -> None:
    name, _ = mangum
    _, status, _ = invoke(lambda_client, name, http_event("GET", "/status"))
    assert status["statusCode"] == 200
    assert json.loads(status["body"]) == {"ok": True, "path": "/status", "method": "GET"}

    event = http_event("GET", "/search", "q=lambda&q=asgi&limit=3", cookies=["session=s1"])
    _, found, _ = invoke(lambda_client, name, event)
    assert json.loads(found["body"]) == {"terms": ["lambda", "asgi"], "limit": 3, "session": "s1"}


def test_mangum_answers_through_its_function_url(mangum: tuple[str, str], web: httpx.Client) -> None:
    _, url = mangum
    status = web.get(url + "status")
    assert (status.status_code, status.json()) == (200, {"ok": True, "path": "/status", "method": "GET"})

    search = web.get(
        url + "search", params=[("q", "café"), ("q", "thé"), ("limit", "2")], headers={"Cookie": "session=s2"}
    )
    assert search.json() == {"terms": ["café", "thé"], "limit": 2, "session": "s2"}

    reversed_ = web.post(url + "reverse", content="stressed", headers={"Content-Type": "text/plain"})
    assert (reversed_.status_code, reversed_.text) == (202, "desserts")
    assert reversed_.headers["x-reversed"] == "yes"
    assert reversed_.headers["content-type"].startswith("text/plain")
