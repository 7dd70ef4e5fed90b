"""A route's payload format 2.0 event, written straight to JSON bytes: the HTTP route hot path.

:func:`turnout.domain.http_event.to_event` builds the event as a dict, which ``json.dumps`` then walks
again. An :class:`EventTemplate` writes the very same bytes (``tests/unit/test_event_template.py``
compares the two over methods, query strings, cookies, repeated headers, binary bodies, path parameters
and stages) in one pass: the parts that depend only on where the request arrived — ``routeKey``,
``stage``, ``apiId``, ``accountId``, ``authorizer`` — are encoded once, when the template is made (one
per route, see ``domain/route_table.py``), and the request time text is kept for the current second.
Per request, only the request's own fields are encoded, with the same C string encoder ``json.dumps``
uses and its default separators, so a function receives exactly what :func:`to_event` would give it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from turnout.domain.http_event import (
    DEFAULT,
    HttpRequest,
    encode_body,
    merge_headers,
    query_parameters,
    request_time,
)

_text = encode_basestring_ascii  # what json.dumps uses for a str (ensure_ascii=True): C speed
_ENCODER = json.JSONEncoder()  # json.dumps's defaults: ", " and ": ", ensure_ascii, allow_nan
# the C encoder json.dumps builds on every call, built once (it is absent on Pythons without _json)
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_DUMP = (
    None
    if _C_ENCODER is None
    else _C_ENCODER(None, _ENCODER.default, _text, None, ": ", ", ", False, False, True)
)


def _json(value: Any) -> str:
    """``json.dumps(value)`` for the event's dicts, lists and None (never circular: no marker check)."""
    if _C_DUMP is None:
        return _ENCODER.encode(value)
    return "".join(_C_DUMP(value, 0))


class EventTemplate:
    """Writes the event of requests that arrive through one route (or one function URL).

    >>> template = EventTemplate("GET /items/{id}")
    >>> request = HttpRequest("GET", "/items/7", "", [("Host", "a.example")], b"", "10.0.0.1")
    >>> from datetime import UTC
    >>> at = datetime(2020, 3, 12, 19, 3, 58, tzinfo=UTC)
    >>> event = json.loads(template.encode(request, "a.example", "r-1", at, {"id": "7"}))
    >>> event["routeKey"], event["pathParameters"], event["requestContext"]["time"]
    ('GET /items/{id}', {'id': '7'}, '12/Mar/2020:19:03:58 +0000')
    """

    __slots__ = ("route_key", "stage", "_head", "_context", "_route", "_clock")

    def __init__(
        self,
        route_key: str = DEFAULT,
        stage: str = DEFAULT,
        api_id: str = "turnout",
        account_id: str = "anonymous",
        authorizer: Mapping[str, Any] | None = None,
    ) -> None:
        self.route_key, self.stage = route_key, stage
        key = _text(route_key)
        self._head = '{"version": "2.0", "routeKey": ' + key + ', "rawPath": '
        authorizer_json = _json(None if authorizer is None else dict(authorizer))
        self._context = (
            f'"requestContext": {{"accountId": {_text(account_id)}, "apiId": {_text(api_id)}, '
            f'"authentication": null, "authorizer": {authorizer_json}, "domainName": '
        )
        self._route = f', "routeKey": {key}, "stage": {_text(stage)}, "time": '
        self._clock: tuple[int, str] = (-1, "")  # (second, its request time text)

    def __repr__(self) -> str:
        return f"EventTemplate({self.route_key!r}, stage={self.stage!r})"

    def encode(
        self,
        request: HttpRequest,
        domain: str,
        request_id: str,
        at: datetime,
        path_parameters: Mapping[str, str] | None = None,
    ) -> bytes:
        """``json.dumps(to_event(request, context)).encode()`` for this template's context values."""
        headers, cookies = merge_headers(request.headers)
        body, is_base64 = encode_body(request.body, headers.get("content-type"))
        path = _text(request.path)
        parts = [self._head, path, ', "rawQueryString": ', _text(request.query)]
        if cookies:
            parts += [', "cookies": ', _json(cookies)]
        parts += [', "headers": ', _json(headers), ", "]
        if request.query:
            parameters = query_parameters(request.query)
            if parameters:
                parts += ['"queryStringParameters": ', _json(parameters), ", "]
        parts += [
            self._context, _text(domain),
            ', "domainPrefix": ', _text(domain.split(".", 1)[0]),
            ', "http": {"method": ', _text(request.method.upper()),
            ', "path": ', path,
            ', "protocol": ', _text(request.protocol),
            ', "sourceIp": ', _text(request.source_ip),
            ', "userAgent": ', _text(headers.get("user-agent", "")),
            '}, "requestId": ', _text(request_id),
            self._route,
        ]  # fmt: skip
        stamp = at.timestamp()
        parts += [self._time(at, stamp), ', "timeEpoch": ', str(int(stamp * 1000)), "}"]
        if body is not None:
            parts += [', "body": ', _text(body)]
        parts += [
            ', "pathParameters": ', "null" if path_parameters is None else _json(dict(path_parameters)),
            ', "isBase64Encoded": ', "true" if is_base64 else "false",
            ', "stageVariables": null}',
        ]  # fmt: skip
        return "".join(parts).encode()

    def _time(self, at: datetime, stamp: float) -> str:
        """The request time text (JSON-encoded), computed once per second of ``at``."""
        second = int(stamp // 1)
        cached = self._clock
        if cached[0] != second:
            cached = self._clock = (second, _text(request_time(at)))
        return cached[1]
