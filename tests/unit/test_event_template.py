"""A route's event written by its template is byte for byte the event ``json.dumps(to_event(...))`` gives:
what a function receives does not depend on which builder made it."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

import turnout.domain.event_template as event_template_module
from turnout.domain.event_template import EventTemplate
from turnout.domain.http_event import EventContext, HttpRequest, to_event
from turnout.domain.route_table import Route

AT = datetime(2024, 3, 12, 19, 3, 58, 390000, tzinfo=UTC)
PNG = bytes(range(256)) * 2

REQUESTS = {
    "plain GET": HttpRequest(
        "GET", "/hello", "", [("host", "127.0.0.1:8420"), ("user-agent", "wrk")], b"", "127.0.0.1"
    ),
    "no headers at all": HttpRequest("GET", "/", "", [], b"", ""),
    "lower-case method": HttpRequest("delete", "/items/7", "", [("host", "a.example")], b"", "10.0.0.1"),
    "query string with repeats, blanks and escapes": HttpRequest(
        "GET", "/search", "q=caf%C3%A9&q=tea&flag&empty=&x=%2F%26", [("host", "a.example")], b"", "::1"
    ),
    "query string that decodes to nothing": HttpRequest("GET", "/q", "&&", [], b"", "10.0.0.1"),
    "cookies, several headers": HttpRequest(
        "GET",
        "/",
        "",
        [("Cookie", "a=1; b=2"), ("cookie", " c=3 ;; "), ("Host", "x.example")],
        b"",
        "10.0.0.2",
    ),
    "repeated headers joined, mixed case": HttpRequest(
        "GET",
        "/",
        "",
        [("X-Tag", "1"), ("x-tag", "2"), ("Accept", "a/b"), ("X-TAG", "3"), ("x-quote", 'say "hi"\t\\')],
        b"",
        "10.0.0.3",
    ),
    "JSON body": HttpRequest(
        "POST",
        "/items",
        "",
        [("content-type", "application/json")],
        b'{"name": "caf\xc3\xa9 \xe2\x98\x95"}',
        "1.2.3.4",
    ),
    "text body without a content type": HttpRequest(
        "PUT", "/t", "", [], "línea\nnext\u2028".encode(), "1.2.3.4"
    ),
    "binary body": HttpRequest("POST", "/upload", "", [("content-type", "image/png")], PNG, "1.2.3.4"),
    "invalid UTF-8 declared as text": HttpRequest(
        "POST", "/upload", "", [("content-type", "text/plain")], b"\xff\xfe\x00abc", "1.2.3.4"
    ),
    "latin-1 header values and path": HttpRequest(
        "GET",
        "/%C3%A9t%C3%A9/\xe9",
        "a=%ZZ",
        [("x-name", "Jos\xe9"), ("user-agent", "m\xfcller/1.0")],
        b"",
        "1.2.3.4",
    ),
    "HTTP/1.0": HttpRequest("GET", "/", "", [("host", "h")], b"", "1.2.3.4", protocol="HTTP/1.0"),
}

TEMPLATES = {
    "default route key and stage": ({}, None),
    "route key and path parameters": ({"route_key": "GET /items/{id}"}, {"id": "7"}),
    "greedy and escaped parameters": ({"route_key": "ANY /{proxy+}"}, {"proxy": 'a/b/"c"/\xe9'}),
    "a named stage": ({"route_key": "POST /x", "stage": "prod"}, None),
    "api id, account and authorizer": (
        {"api_id": "u" * 32, "account_id": "123456789012", "authorizer": {"iam": {"userId": "AIDA", "n": 1}}},
        None,
    ),
}


def plain(request: HttpRequest, options: dict, parameters: dict | None, at: datetime, domain: str) -> bytes:
    context = EventContext(
        api_id=options.get("api_id", "turnout"),
        domain_name=domain,
        domain_prefix=domain.split(".", 1)[0],
        request_id="9b2f6c1e-req",
        at=at,
        account_id=options.get("account_id", "anonymous"),
        route_key=options.get("route_key", "$default"),
        stage=options.get("stage", "$default"),
        path_parameters=parameters,
        authorizer=options.get("authorizer"),
    )
    return json.dumps(to_event(request, context)).encode()


@pytest.mark.parametrize("template_name", TEMPLATES)
@pytest.mark.parametrize("request_name", REQUESTS)
def test_the_template_writes_the_same_bytes_as_the_plain_event(request_name: str, template_name: str) -> None:
    request = REQUESTS[request_name]
    options, parameters = TEMPLATES[template_name]
    template = EventTemplate(**options)
    for domain in ("127.0.0.1", "api.example.com", ""):
        assert template.encode(request, domain, "9b2f6c1e-req", AT, parameters) == plain(
            request, options, parameters, AT, domain
        )


def test_the_request_time_follows_the_clock_across_seconds_and_days() -> None:
    template = EventTemplate("GET /t")
    request = REQUESTS["plain GET"]
    moments = [
        AT,
        AT + timedelta(microseconds=609_999),
        AT + timedelta(seconds=1),
        AT,
        AT + timedelta(days=300),
    ]
    moments += [datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)]
    moments.append(datetime(2024, 6, 1, 1, 30, 5, tzinfo=timezone(timedelta(hours=2))))  # 23:30 UTC, May 31
    for at in moments:
        event = template.encode(request, "h", "9b2f6c1e-req", at)
        assert event == plain(request, {"route_key": "GET /t"}, None, at, "h")


def test_a_route_carries_the_template_of_its_route_key() -> None:
    route = Route.of(1, "GET", "", "/items/{id}", "fn", "live")
    assert route.event.route_key == "GET /items/{id}"
    assert route == Route.of(1, "GET", "", "/items/{id}", "fn", "live")  # the template is not compared


def test_doctests() -> None:
    assert doctest.testmod(event_template_module).failed == 0
