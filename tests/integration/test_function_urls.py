"""Function URLs end to end: configs through boto3, then plain HTTP to the URL a real server gives.

The functions are made with the native API; the URL configs only through boto3, and the URLs are called
with httpx like any HTTP client would (a browser, curl).
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
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.integration.runtime_support import point, release
from tests.support import Server, deploy, unique

pytestmark = pytest.mark.integration

ACCESS_KEY, SECRET_KEY, REGION = "AKIDURLTEST", "secret", "us-east-1"

# A handler written for function URLs: each path answers in another way.
APP = """\
import json

MARKER = {marker!r}


def handler(event, context):
    path = event["rawPath"]
    if path == "/binary":
        return {{
            "statusCode": 200,
            "headers": {{"Content-Type": "application/octet-stream"}},
            "body": event["body"],
            "isBase64Encoded": event["isBase64Encoded"],
        }}
    if path == "/custom":
        return {{
            "statusCode": 418,
            "headers": {{"Content-Type": "text/plain", "X-Custom": "yes"}},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": "short and stout",
        }}
    if path == "/string":
        return "Hello, world!"
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/malformed":
        return {{"statusCode": "teapot"}}
    return {{"marker": MARKER, "event": event, "arn": context.invoked_function_arn}}
"""


def app(marker: str) -> dict[str, str]:
    return {"app.py": APP.format(marker=marker)}


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(retries={"max_attempts": 0}),
    )


@pytest.fixture
def web() -> Iterator[httpx.Client]:
    """A plain HTTP client: no token, no signature."""
    with httpx.Client(timeout=30) as plain:
        yield plain


@pytest.fixture
def fn(api: httpx.Client) -> str:
    """A function with version 1 (marker v1) behind alias ``live``."""
    name = unique("url")
    release(api, name, app("v1"))
    point(api, name, "live", version=1)
    return name


def aws_error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def test_url_configs_through_boto3(client: Any, fn: str, server: Server) -> None:
    created = client.create_function_url_config(
        FunctionName=fn,
        Qualifier="live",
        AuthType="NONE",
        Cors={"AllowOrigins": ["https://app.example"], "MaxAge": 60},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    assert url.startswith(f"{server.url}/lambda-url/") and url.endswith("/")
    assert len(url.rsplit("/", 2)[1]) == 32
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:000000000000:function:{fn}:live"
    assert (created["AuthType"], created["InvokeMode"]) == ("NONE", "BUFFERED")
    assert created["Cors"] == {"AllowOrigins": ["https://app.example"], "MaxAge": 60}
    assert "LastModifiedTime" not in created and created["CreationTime"].endswith("+0000")

    got = client.get_function_url_config(FunctionName=fn, Qualifier="live")
    assert got["FunctionUrl"] == url and got["LastModifiedTime"] == got["CreationTime"]
    arn = f"arn:aws:lambda:{REGION}:000000000000:function:{fn}"
    assert client.get_function_url_config(FunctionName=f"{arn}:live")["FunctionUrl"] == url

    updated = client.update_function_url_config(FunctionName=fn, Qualifier="live", AuthType="AWS_IAM")
    assert (updated["FunctionUrl"], updated["AuthType"], updated["Cors"]) == (url, "AWS_IAM", created["Cors"])

    latest = client.create_function_url_config(FunctionName=fn, AuthType="NONE")
    assert latest["FunctionArn"] == arn and latest["FunctionUrl"] != url
    listed = client.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [latest["FunctionUrl"], url]  # $LATEST sorts first
    pages = client.get_paginator("list_function_url_configs").paginate(
        FunctionName=fn, PaginationConfig={"PageSize": 1}
    )
    assert [len(p["FunctionUrlConfigs"]) for p in pages] == [1, 1]

    deleted = client.delete_function_url_config(FunctionName=fn, Qualifier="live")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        client.get_function_url_config(FunctionName=fn, Qualifier="live")
    assert aws_error(gone) == ("ResourceNotFoundException", 404)
    assert len(client.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"]) == 1


def test_url_config_errors_are_aws_errors(client: Any, fn: str) -> None:
    client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")
    cases: list[tuple[dict[str, Any], tuple[str, int]]] = [
        ({"Qualifier": "live", "AuthType": "NONE"}, ("ResourceConflictException", 409)),
        ({"Qualifier": "1", "AuthType": "NONE"}, ("InvalidParameterValueException", 400)),
        ({"Qualifier": "nope", "AuthType": "NONE"}, ("ResourceNotFoundException", 404)),
        (
            {"Qualifier": "other", "AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"},
            ("InvalidParameterValueException", 400),
        ),
        ({"AuthType": "NONE", "Cors": {"MaxAge": 86400 * 2}}, ("InvalidParameterValueException", 400)),
    ]
    for params, expected in cases:
        with pytest.raises(ClientError) as refused:
            client.create_function_url_config(FunctionName=fn, **params)
        assert aws_error(refused) == expected, params
    with pytest.raises(ClientError) as missing:
        client.create_function_url_config(FunctionName=unique("ghost"), AuthType="NONE")
    assert aws_error(missing) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as unsigned:
        unsigned_client = boto3.client(
            "lambda",
            endpoint_url=client.meta.endpoint_url,
            region_name=REGION,
            config=botocore.config.Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 0}),
        )
        unsigned_client.get_function_url_config(FunctionName=fn, Qualifier="live")
    assert aws_error(unsigned)[1] == 403


def test_a_get_with_query_cookies_and_repeated_headers_reaches_the_function(
    client: Any, fn: str, web: httpx.Client
) -> None:
    url = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    response = web.get(
        url + "items/a%20b",
        params=[("tag", "x"), ("tag", "y"), ("q", "café")],
        headers=[("Cookie", "session=abc; theme=dark"), ("X-Multi", "1"), ("X-Multi", "2")],
    )
    body = echo(response)
    assert body["marker"] == "v1" and body["arn"].endswith(f":function:{fn}:live")
    event = body["event"]
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "tag=x&tag=y&q=caf%C3%A9"
    assert event["queryStringParameters"] == {"tag": "x,y", "q": "café"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["headers"]["x-multi"] == "1,2" and "cookie" not in event["headers"]
    assert event["headers"]["x-forwarded-proto"] == "http"
    context = event["requestContext"]
    url_id = url.rsplit("/", 2)[1]
    assert (context["apiId"], context["domainPrefix"], context["accountId"]) == (url_id, url_id, "anonymous")
    assert context["http"]["method"] == "GET" and context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"].startswith("python-httpx")
    assert response.headers["x-amzn-requestid"] == context["requestId"]
    assert response.headers["x-turnout-version"] == "1"
    assert "body" not in event and event["isBase64Encoded"] is False

    root = echo(web.get(url.rstrip("/")))  # the URL without its trailing slash is the root too
    assert root["event"]["rawPath"] == "/"


def test_a_binary_body_makes_the_round_trip(client: Any, fn: str, web: httpx.Client) -> None:
    url = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    blob = bytes(range(256)) * 64
    response = web.post(url + "binary", content=blob, headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    assert response.content == blob
    assert response.headers["content-type"] == "application/octet-stream"

    text = echo(web.post(url, json={"name": "Ada"}))["event"]
    assert (json.loads(text["body"]), text["isBase64Encoded"]) == ({"name": "Ada"}, False)
    png = echo(web.put(url, content=b"\x89PNG\r\n", headers={"Content-Type": "image/png"}))["event"]
    assert (base64.b64decode(png["body"]), png["isBase64Encoded"]) == (b"\x89PNG\r\n", True)


def test_the_function_shapes_the_http_response(client: Any, fn: str, web: httpx.Client) -> None:
    url = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    custom = web.get(url + "custom")
    assert (custom.status_code, custom.text) == (418, "short and stout")
    assert custom.headers["x-custom"] == "yes" and custom.headers["content-type"] == "text/plain"
    assert custom.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]

    string = web.get(url + "string")
    assert (string.status_code, string.text) == (200, '"Hello, world!"')
    assert string.headers["content-type"] == "application/json"

    for path in ("fail", "malformed"):
        failed = web.get(url + path)
        assert (failed.status_code, failed.json()) == (502, {"message": "Internal Server Error"}), path


def test_the_url_follows_its_alias(client: Any, fn: str, api: httpx.Client, web: httpx.Client) -> None:
    url = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    assert echo(web.get(url))["marker"] == "v1"
    release(api, fn, app("v2"))
    point(api, fn, "live", version=2)
    response = web.get(url)
    assert echo(response)["marker"] == "v2" and response.headers["x-turnout-version"] == "2"

    deploy(api, fn, app("draft"))
    latest = client.create_function_url_config(FunctionName=fn, AuthType="NONE")["FunctionUrl"]
    answer = echo(web.get(latest))
    assert answer["marker"] == "draft" and answer["arn"].endswith(f":function:{fn}")


def test_aws_iam_urls_need_a_signature(client: Any, fn: str, web: httpx.Client) -> None:
    url = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="AWS_IAM")[
        "FunctionUrl"
    ]
    refused = web.get(url)
    assert refused.status_code == 403
    assert refused.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert "Signature" in refused.json()["Message"]

    signed = AWSRequest("GET", url + "who")
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION).add_auth(signed)
    event = echo(web.get(url + "who", headers=dict(signed.headers.items())))["event"]
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == ACCESS_KEY
    assert event["requestContext"]["accountId"] == "000000000000"


def test_cors_is_answered_by_the_url(client: Any, fn: str, web: httpx.Client) -> None:
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["POST"], "MaxAge": 600}
    config = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE", Cors=cors)
    url = config["FunctionUrl"]
    preflight = web.options(
        url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200 and preflight.content == b""
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["access-control-allow-methods"] == "POST"
    assert preflight.headers["access-control-max-age"] == "600"

    allowed = web.post(url, json={}, headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    other = web.post(url, json={}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

    client.update_function_url_config(FunctionName=fn, Qualifier="live", AuthType="AWS_IAM")
    ask = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    unsigned_preflight = web.options(url, headers=ask)  # browsers never sign a preflight
    assert unsigned_preflight.status_code == 200
    assert unsigned_preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert web.post(url, json={}, headers={"Origin": "https://app.example"}).status_code == 403


def test_unknown_urls_and_oversized_bodies_are_refused(
    client: Any, fn: str, web: httpx.Client, server: Server, api: httpx.Client
) -> None:
    unknown = web.get(f"{server.url}/lambda-url/{'a' * 32}/")
    assert unknown.status_code == 404
    assert unknown.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert "no function URL" in unknown.json()["Message"]

    url = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    client.delete_function_url_config(FunctionName=fn, Qualifier="live")
    assert web.get(url).status_code == 404  # deleted: gone at once on this node

    url = client.create_function_url_config(FunctionName=fn, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    too_big = web.post(url, content=b"x" * (6 * 1024 * 1024 + 1), headers={"Content-Type": "text/plain"})
    assert too_big.status_code == 413

    assert api.delete(f"/v1/functions/{fn}/aliases/live").status_code == 204
    orphan = web.get(url)  # the URL's alias is gone: nothing to run
    assert (orphan.status_code, orphan.headers["x-amzn-errortype"]) == (404, "ResourceNotFoundException")
