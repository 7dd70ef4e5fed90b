"""HTTP requests as payload format 2.0 events and function results as HTTP responses (function URLs,
and later HTTP routes): bodies, cookies, headers, query strings, inferred and custom responses, CORS."""

from __future__ import annotations

import base64
import doctest
import json
from datetime import UTC, datetime

import pytest

import turnout.domain.http_event as http_event_module
from turnout.domain.http_event import (
    Cors,
    EventContext,
    HttpRequest,
    InvalidResponse,
    to_event,
    to_response,
)
from turnout.errors import InvalidInput

AT = datetime(2024, 3, 12, 19, 3, 58, 390000, tzinfo=UTC)
CONTEXT = EventContext(
    api_id="u" * 32, domain_name="127.0.0.1", domain_prefix="u" * 32, request_id="req-1", at=AT
)
PNG = bytes(range(256)) * 4


def request(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    return HttpRequest(method, path, query, headers or [], body, "10.1.2.3")


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(http_event_module).failed == 0


def test_a_get_becomes_the_event_lambda_documents() -> None:
    event = to_event(
        request(
            path="/my/path",
            query="parameter1=value1&parameter1=value2&parameter2=value",
            headers=[("Header1", "value1"), ("User-Agent", "agent"), ("Cookie", "cookie1=a; cookie2=b")],
        ),
        CONTEXT,
    )
    assert event == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/my/path",
        "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
        "cookies": ["cookie1=a", "cookie2=b"],
        "headers": {"header1": "value1", "user-agent": "agent"},
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "u" * 32,
            "authentication": None,
            "authorizer": None,
            "domainName": "127.0.0.1",
            "domainPrefix": "u" * 32,
            "http": {
                "method": "GET",
                "path": "/my/path",
                "protocol": "HTTP/1.1",
                "sourceIp": "10.1.2.3",
                "userAgent": "agent",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2024:19:03:58 +0000",
            "timeEpoch": 1710270238390,
        },
        "pathParameters": None,
        "isBase64Encoded": False,
        "stageVariables": None,
    }
    json.dumps(event)  # it travels as JSON


def test_absent_parts_are_left_out_of_the_event() -> None:
    event = to_event(request(), CONTEXT)
    assert "cookies" not in event and "queryStringParameters" not in event and "body" not in event
    assert event["rawQueryString"] == "" and event["headers"] == {}
    assert event["requestContext"]["http"]["userAgent"] == ""


def test_repeated_headers_are_joined_with_commas_and_names_lowercased() -> None:
    headers = [("X-Tag", "a"), ("x-tag", "b"), ("X-TAG", "c"), ("Accept", "text/html")]
    event = to_event(request(headers=headers), CONTEXT)
    assert event["headers"] == {"x-tag": "a,b,c", "accept": "text/html"}


def test_every_cookie_header_adds_to_cookies_and_none_stays_in_headers() -> None:
    headers = [("Cookie", "a=1;b=2"), ("cookie", " c=3 ; ")]
    event = to_event(request(headers=headers), CONTEXT)
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=caf%C3%A9&q=th%C3%A9", {"q": "café,thé"}),
        ("a=1+2&empty=&flag", {"a": "1 2", "empty": "", "flag": ""}),
        ("x=%26%3D", {"x": "&="}),
    ],
)
def test_query_parameters_are_decoded_and_the_raw_string_kept(query: str, expected: dict[str, str]) -> None:
    event = to_event(request(query=query), CONTEXT)
    assert event["queryStringParameters"] == expected
    assert event["rawQueryString"] == query


def test_the_path_is_kept_as_sent() -> None:
    event = to_event(request(path="/files/a%20b/%E2%9C%93"), CONTEXT)
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/files/a%20b/%E2%9C%93"


@pytest.mark.parametrize(
    ("content_type", "body", "expected", "is_base64"),
    [
        ("application/json", b'{"a": "\xc3\xa9"}', '{"a": "é"}', False),
        ("text/plain; charset=utf-8", b"hello", "hello", False),
        ("application/x-www-form-urlencoded", b"a=1&b=2", "a=1&b=2", False),
        ("application/problem+json", b"{}", "{}", False),
        (None, b"plain", "plain", False),
        ("text/plain", b"\xff\xfe", "//4=", True),  # not UTF-8: base64 all the same
        ("application/octet-stream", b"abc", "YWJj", True),
        ("multipart/form-data; boundary=x", b"--x--", "LS14LS0=", True),
    ],
)
def test_text_bodies_travel_as_text_and_the_rest_as_base64(
    content_type: str | None, body: bytes, expected: str, is_base64: bool
) -> None:
    headers = [] if content_type is None else [("Content-Type", content_type)]
    event = to_event(request("POST", headers=headers, body=body), CONTEXT)
    assert (event["body"], event["isBase64Encoded"]) == (expected, is_base64)


def test_a_binary_body_survives_the_round_trip_through_a_handler() -> None:
    event = to_event(request("POST", headers=[("Content-Type", "image/png")], body=PNG), CONTEXT)
    assert event["isBase64Encoded"] is True
    # what an echoing handler returns
    result = {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True}
    result["body"] = event["body"]
    response = to_response(json.dumps(result).encode())
    assert response.body == PNG == base64.b64decode(event["body"])
    assert response.header("content-type") == "image/png"


def test_an_iam_caller_is_described_in_the_request_context() -> None:
    authorizer = {"iam": {"accessKey": "AKID", "accountId": "000000000000"}}
    context = EventContext("u", "h", "u", "r", AT, account_id="000000000000", authorizer=authorizer)
    event = to_event(request(), context)
    assert event["requestContext"]["authorizer"] == authorizer
    assert event["requestContext"]["accountId"] == "000000000000"


def test_http_routes_can_set_their_route_key_stage_and_path_parameters() -> None:
    context = EventContext(
        "api", "h", "api", "r", AT, route_key="GET /items/{id}", path_parameters={"id": "7"}
    )
    event = to_event(request(path="/items/7"), context)
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /items/{id}"
    assert event["pathParameters"] == {"id": "7"}


# -- responses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload", [b'"Hello, world!"', b'{"message": "Hello"}', b"[1, 2]", b"42", b"null", b"true"]
)
def test_any_json_that_is_not_a_response_is_the_body_of_a_200(payload: bytes) -> None:
    response = to_response(payload)
    assert (response.status, response.headers, response.body) == (
        200,
        [("content-type", "application/json")],
        payload,
    )


def test_an_empty_result_is_null() -> None:
    assert to_response(b"").body == b"null"


def test_a_dict_without_status_code_is_json_even_with_response_like_keys() -> None:
    payload = b'{"body": "x", "headers": {"a": "b"}}'
    assert to_response(payload).body == payload


def test_a_custom_response_sets_status_headers_and_cookies() -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "My-Custom-Header": "Custom Value", "X-Count": 3},
        "cookies": ["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT", "Cookie_2=Value2; Max-Age=78000"],
        "body": "créé",
        "isBase64Encoded": False,
    }
    response = to_response(json.dumps(result).encode())
    assert response.status == 201
    assert response.headers == [
        ("content-type", "text/plain"),
        ("my-custom-header", "Custom Value"),
        ("x-count", "3"),
        ("set-cookie", "Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT"),
        ("set-cookie", "Cookie_2=Value2; Max-Age=78000"),
    ]
    assert response.body == "créé".encode()


def test_a_response_without_content_type_or_body_gets_json_and_nothing() -> None:
    response = to_response(b'{"statusCode": 204}')
    assert (response.status, response.headers, response.body) == (
        204,
        [("content-type", "application/json")],
        b"",
    )


def test_a_base64_response_is_decoded_and_framing_headers_are_the_servers() -> None:
    body = base64.b64encode(PNG).decode()
    result = {
        "statusCode": "200",
        "headers": {"content-type": "image/png", "Content-Length": "1", "Transfer-Encoding": "chunked"},
        "body": body,
        "isBase64Encoded": True,
    }
    response = to_response(json.dumps(result).encode())
    assert response.body == PNG
    assert response.headers == [("content-type", "image/png")]


def test_a_non_string_body_is_sent_as_json() -> None:
    assert to_response(b'{"statusCode": 200, "body": {"a": [1]}}').body == b'{"a": [1]}'


@pytest.mark.parametrize(
    "payload",
    [
        b'{"statusCode": 99}',
        b'{"statusCode": 600}',
        b'{"statusCode": "two hundred"}',
        b'{"statusCode": true}',
        b'{"statusCode": 200, "headers": ["a"]}',
        b'{"statusCode": 200, "headers": {"a": {"b": 1}}}',
        b'{"statusCode": 200, "cookies": "a=1"}',
        b'{"statusCode": 200, "body": "%%%", "isBase64Encoded": true}',
        b"not json",
    ],
)
def test_a_malformed_response_is_refused(payload: bytes) -> None:
    with pytest.raises(InvalidResponse):
        to_response(payload)


# -- CORS -----------------------------------------------------------------------------------------------


def test_cors_headers_are_added_for_an_allowed_origin_and_win_over_the_functions() -> None:
    cors = Cors(allow_origins=("https://app.example",), allow_credentials=True, expose_headers=("x-id",))
    response = to_response(
        b'{"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "*", "X-Id": "1"}}'
    )
    applied = cors.apply(response, "https://app.example")
    assert applied.header("access-control-allow-origin") == "https://app.example"
    assert [k for k, _ in applied.headers].count("access-control-allow-origin") == 1
    assert applied.header("access-control-allow-credentials") == "true"
    assert applied.header("access-control-expose-headers") == "x-id"
    assert applied.header("vary") == "Origin"
    assert cors.apply(response, "https://evil.example") == response
    assert cors.apply(response, None) == response


def test_a_wildcard_origin_answers_star() -> None:
    assert Cors(allow_origins=("*",)).response_headers("https://any.example") == [
        ("access-control-allow-origin", "*")
    ]


def test_a_preflight_is_answered_from_the_configuration() -> None:
    cors = Cors(
        allow_origins=("https://app.example",),
        allow_methods=("GET", "POST"),
        allow_headers=("content-type", "x-api-key"),
        max_age=600,
    )
    ask = request(
        "OPTIONS",
        headers=[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "post"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
    )
    answer = cors.preflight(ask)
    assert answer is not None and answer.status == 200 and answer.body == b""
    assert dict(answer.headers) == {
        "access-control-allow-origin": "https://app.example",
        "vary": "Origin",
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "content-type,x-api-key",
        "access-control-max-age": "600",
    }
    refused = cors.preflight(
        request(
            "OPTIONS", headers=[("Origin", "https://app.example"), ("Access-Control-Request-Method", "PUT")]
        )
    )
    assert refused is not None and refused.headers == []
    assert cors.preflight(request("OPTIONS", headers=[("Origin", "https://app.example")])) is None
    assert cors.preflight(request("GET", headers=[("Origin", "https://app.example")])) is None


def test_cors_settings_round_trip_and_are_checked() -> None:
    full = {
        "AllowCredentials": True,
        "AllowHeaders": ["x-a"],
        "AllowMethods": ["*"],
        "AllowOrigins": ["*"],
        "ExposeHeaders": ["x-b"],
        "MaxAge": 0,
    }
    assert Cors.from_json(full).to_json() == full
    assert Cors.from_json({}).to_json() == {}
    for bad in ({"AllowCredentials": "yes"}, {"MaxAge": -1}, {"AllowHeaders": "x"}, {"Nope": 1}):
        with pytest.raises(InvalidInput):
            Cors.from_json(bad)


@pytest.mark.parametrize(
    "result",
    [
        {"hello": "world"},
        {"statusCode": 201, "body": "x"},
        {"\u0073tatus\u0043ode": 202},  # the same key, however the producer escaped it
        {"status": 200, "code": "statusCod"},
        {"nested": {"statusCode": 500}},
        ["statusCode", 200],
        "caf\u00e9",
        42,
        None,
    ],
)
def test_a_result_skips_parsing_only_when_it_cannot_be_a_response(result: object) -> None:
    for payload in (
        json.dumps(result).encode(),
        json.dumps(result, separators=(",", ":")).encode(),
        json.dumps(result, ensure_ascii=False).encode(),
        json.dumps(result).replace("statusCode", "\\u0073tatusCode").encode(),
    ):
        if not http_event_module.could_be_response(payload):
            assert to_response(payload) == http_event_module.HttpResponse(
                200, [("content-type", "application/json")], payload
            )
        if isinstance(result, dict) and "statusCode" in result:
            assert http_event_module.could_be_response(payload)
