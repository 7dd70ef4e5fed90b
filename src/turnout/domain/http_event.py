"""HTTP requests as Lambda events, and Lambda results as HTTP responses.

The format is API Gateway's HTTP API payload format version 2.0, which Lambda function URLs use too, so
code written for either (aws-lambda-powertools' resolvers, Mangum, hand-written handlers) runs unchanged.
Everything here is pure: a serving route collects the request's parts into an :class:`HttpRequest`,
gets the event from :func:`to_event`, invokes the function, and turns its result back into status,
headers and body with :func:`to_response`. CORS (:class:`Cors`) is applied on the way out, and
preflight requests are answered without running the function, as Lambda does for function URLs.

Choices where AWS leaves room (see docs): a request body is passed as text when its content type is
textual (``text/*``, JSON, XML, form-encoded, JavaScript…) or absent, and it is valid UTF-8; anything
else is base64 with ``isBase64Encoded: true``. Request headers are lowercased and repeated ones joined
with commas; the ``cookie`` header moves to ``cookies``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from turnout.errors import InvalidInput

DEFAULT = "$default"
JSON_TYPE = "application/json"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_SUBTYPES = frozenset(
    {"json", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "graphql", "yaml", "x-yaml", "csv"}
)
# Response headers the server frames itself: a function's values would corrupt the response.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")  # an HTTP token
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters (a tab is allowed)


class InvalidResponse(ValueError):
    """The function's result claims to be an HTTP response (it has ``statusCode``) but is not a valid one."""


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as it arrived. ``path`` and ``query`` are raw: percent-encoded as sent."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass(frozen=True)
class EventContext:
    """What the event says about where the request arrived: the ``requestContext`` values.

    Function URLs use the defaults (``$default`` route and stage, no path parameters); HTTP routes set
    ``route_key`` (``GET /items/{id}``) and ``path_parameters``.
    """

    api_id: str
    domain_name: str
    domain_prefix: str
    request_id: str
    at: datetime
    account_id: str = "anonymous"
    route_key: str = DEFAULT
    stage: str = DEFAULT
    path_parameters: Mapping[str, str] | None = None
    authorizer: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def to_event(request: HttpRequest, context: EventContext) -> dict[str, Any]:
    """The payload format 2.0 event of ``request``; absent parts (cookies, query, body) are left out."""
    headers, cookies = merge_headers(request.headers)
    body, is_base64 = encode_body(request.body, headers.get("content-type"))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": context.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    parameters = query_parameters(request.query)
    if parameters:
        event["queryStringParameters"] = parameters
    event["requestContext"] = {
        "accountId": context.account_id,
        "apiId": context.api_id,
        "authentication": None,
        "authorizer": None if context.authorizer is None else dict(context.authorizer),
        "domainName": context.domain_name,
        "domainPrefix": context.domain_prefix,
        "http": {
            "method": request.method.upper(),
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": context.request_id,
        "routeKey": context.route_key,
        "stage": context.stage,
        "time": request_time(context.at),
        "timeEpoch": int(context.at.timestamp() * 1000),
    }
    if body is not None:
        event["body"] = body
    event["pathParameters"] = None if context.path_parameters is None else dict(context.path_parameters)
    event["isBase64Encoded"] = is_base64
    event["stageVariables"] = None
    return event


def merge_headers(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """(headers, cookies): names lowercased, repeated headers joined with commas, and the ``cookie``
    header split into its cookies.

    >>> merge_headers([("Accept", "a/b"), ("X-Tag", "1"), ("x-tag", "2"), ("Cookie", "a=1; b=2")])
    ({'accept': 'a/b', 'x-tag': '1,2'}, ['a=1', 'b=2'])
    """
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, value in pairs:
        name = raw_name.lower()
        if name == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
        elif name in headers:
            headers[name] += "," + value
        else:
            headers[name] = value
    return headers, cookies


def query_parameters(raw: str) -> dict[str, str]:
    """Decoded query parameters, repeated ones joined with commas, blank values kept.

    >>> query_parameters("a=1&a=2&b=x%20y&flag")
    {'a': '1,2', 'b': 'x y', 'flag': ''}
    """
    found: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        found[name] = f"{found[name]},{value}" if name in found else value
    return found


def is_text(content_type: str | None) -> bool:
    """Whether a body of this content type travels as text (when it is valid UTF-8).

    >>> [is_text(t) for t in ("text/plain; charset=utf-8", "application/vnd.api+json", None, "image/png")]
    [True, True, True, False]
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not media or media.startswith("text/"):
        return True
    subtype = media.partition("/")[2]
    return subtype in _TEXT_SUBTYPES or subtype.endswith(("+json", "+xml"))


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """(body for the event, isBase64Encoded): text as is, binary as base64; no body gives None.

    >>> encode_body(b'{"a": 1}', "application/json"), encode_body(b"\\x89PNG", "image/png")
    (('{"a": 1}', False), ('iVBORw==', True))
    """
    if not body:
        return None, False
    if is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def request_time(at: datetime) -> str:
    """API Gateway's request time, in English whatever the locale.

    >>> request_time(datetime(2020, 3, 12, 19, 3, 58, tzinfo=UTC))
    '12/Mar/2020:19:03:58 +0000'
    """
    at = at.astimezone(UTC)
    return f"{at.day:02d}/{_MONTHS[at.month - 1]}/{at.year}:{at:%H:%M:%S} +0000"


def to_response(payload: bytes) -> HttpResponse:
    """The HTTP response for a function's result.

    A JSON object with ``statusCode`` is an HTTP response (``headers``, ``cookies`` as Set-Cookie,
    ``body``, base64-decoded when ``isBase64Encoded``); any other JSON value is the body of a 200,
    as Lambda infers it. Content type defaults to ``application/json``.

    >>> to_response(b'"Hello"')
    HttpResponse(status=200, headers=[('content-type', 'application/json')], body=b'"Hello"')
    >>> to_response(b'{"statusCode": 201, "body": "aGk=", "isBase64Encoded": true, "cookies": ["a=1"]}')
    ... # doctest: +NORMALIZE_WHITESPACE
    HttpResponse(status=201, headers=[('content-type', 'application/json'), ('set-cookie', 'a=1')],
                 body=b'hi')
    """
    try:
        result = json.loads(payload) if payload else None
    except ValueError as exc:
        raise InvalidResponse(f"the function's result is not JSON: {exc}") from exc
    if not (isinstance(result, dict) and "statusCode" in result):
        return HttpResponse(200, [("content-type", JSON_TYPE)], payload or b"null")
    headers = response_headers(result.get("headers"))
    if not any(name == "content-type" for name, _ in headers):
        headers.insert(0, ("content-type", JSON_TYPE))
    headers += [("set-cookie", cookie) for cookie in _cookies(result.get("cookies"))]
    body = response_body(result.get("body"), bool(result.get("isBase64Encoded")))
    return HttpResponse(status_code(result["statusCode"]), headers, body)


def could_be_response(payload: bytes) -> bool:
    r"""Whether a JSON result may be an object with a ``statusCode`` key, so :func:`to_response` must parse
    it. In JSON the key is written ``"statusCode"``, or with ``\u`` escapes; a result with neither is
    whatever else it is, the body of a 200, and needs no parsing (for valid JSON only).

    >>> could_be_response(b'{"hello":"world"}'), could_be_response(b'{"statusCode":200}')
    (False, True)
    >>> could_be_response(b'{"\\u0073tatusCode":200}'), could_be_response(b'"statusCode"')
    (True, True)
    """
    return b"statusCode" in payload or b"\\u" in payload


def status_code(value: Any) -> int:
    """
    >>> status_code(404), status_code("201")
    (404, 201)
    """
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise InvalidResponse(f"statusCode must be a number from 100 to 599, not {value!r}")
    return int(value)


def response_headers(value: Any) -> list[tuple[str, str]]:
    """A result's ``headers`` object as lowercased pairs; framing headers are the server's to set.

    >>> response_headers({"X-Count": 3, "Content-Length": "99", "Content-Type": "text/plain"})
    [('x-count', '3'), ('content-type', 'text/plain')]
    """
    if value is None:
        return []
    if not isinstance(value, dict):
        raise InvalidResponse(f"headers must be an object of names to values, not {type(value).__name__}")
    pairs = []
    for name, raw in value.items():
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, str | int | float):
            text = str(raw)
        else:
            raise InvalidResponse(f"header {name!r} must be a string, not {type(raw).__name__}")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or _BAD_VALUE.search(text):
            raise InvalidResponse(f"header {name!r} has a name or value HTTP cannot carry")
        if name.lower() not in _FRAMING:
            pairs.append((name.lower(), text))
    return pairs


def _cookies(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise InvalidResponse("cookies must be a list of strings")
    if any(_BAD_VALUE.search(cookie) for cookie in value):
        raise InvalidResponse("a cookie has a control character HTTP cannot carry")
    return value


def response_body(value: Any, is_base64: bool) -> bytes:
    """
    >>> response_body("aGk=", True), response_body({"a": 1}, False), response_body(None, False)
    (b'hi', b'{"a": 1}', b'')
    """
    if value is None:
        return b""
    if not isinstance(value, str):
        return json.dumps(value).encode()
    if not is_base64:
        return value.encode()
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidResponse("isBase64Encoded is true but the body is not base64") from exc


@dataclass(frozen=True)
class Cors:
    """Lambda's Cors settings of a function URL; ``None`` fields were not given."""

    allow_credentials: bool | None = None
    allow_headers: tuple[str, ...] | None = None
    allow_methods: tuple[str, ...] | None = None
    allow_origins: tuple[str, ...] | None = None
    expose_headers: tuple[str, ...] | None = None
    max_age: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cors:
        """Read and check Lambda's ``Cors`` structure (its limits: 100 origins and headers, 6 methods,
        MaxAge up to 86400 s).

        >>> Cors.from_json({"AllowOrigins": ["*"], "MaxAge": 60}).to_json()
        {'AllowOrigins': ['*'], 'MaxAge': 60}
        """
        unknown = set(data) - set(_CORS_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown Cors field(s): {', '.join(sorted(unknown))}")
        credentials = data.get("AllowCredentials")
        if credentials is not None and not isinstance(credentials, bool):
            raise InvalidInput("Cors.AllowCredentials must be true or false")
        max_age = data.get("MaxAge")
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= 86400
        ):
            raise InvalidInput("Cors.MaxAge must be a whole number of seconds from 0 to 86400")
        return cls(
            allow_credentials=credentials,
            allow_headers=_strings(data, "AllowHeaders", 100, 0, 1024),
            allow_methods=_strings(data, "AllowMethods", 6, 0, 6),
            allow_origins=_strings(data, "AllowOrigins", 100, 1, 253),
            expose_headers=_strings(data, "ExposeHeaders", 100, 0, 1024),
            max_age=max_age,
        )

    def to_json(self) -> dict[str, Any]:
        values = {
            "AllowCredentials": self.allow_credentials,
            "AllowHeaders": None if self.allow_headers is None else list(self.allow_headers),
            "AllowMethods": None if self.allow_methods is None else list(self.allow_methods),
            "AllowOrigins": None if self.allow_origins is None else list(self.allow_origins),
            "ExposeHeaders": None if self.expose_headers is None else list(self.expose_headers),
            "MaxAge": self.max_age,
        }
        return {k: v for k, v in values.items() if v is not None}

    def allows_origin(self, origin: str) -> bool:
        origins = self.allow_origins or ()
        return "*" in origins or origin.lower() in {o.lower() for o in origins}

    def response_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The CORS headers of an answer to a request from ``origin`` (none when it is not allowed).

        >>> Cors(allow_origins=("https://a.example",), expose_headers=("x-id",)).response_headers(
        ...     "https://a.example")  # doctest: +NORMALIZE_WHITESPACE
        [('access-control-allow-origin', 'https://a.example'), ('vary', 'Origin'),
         ('access-control-expose-headers', 'x-id')]
        """
        if origin is None or not self.allows_origin(origin):
            return []
        if "*" in (self.allow_origins or ()) and not self.allow_credentials:
            found = [("access-control-allow-origin", "*")]
        else:
            found = [("access-control-allow-origin", origin), ("vary", "Origin")]
        if self.allow_credentials:
            found.append(("access-control-allow-credentials", "true"))
        if self.expose_headers:
            found.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        return found

    def preflight(self, request: HttpRequest) -> HttpResponse | None:
        """The answer to a CORS preflight request (OPTIONS with Origin and Access-Control-Request-Method),
        or None when ``request`` is not one. A refused preflight is a 200 without CORS headers: the
        browser then refuses the real request.

        >>> cors = Cors(allow_origins=("*",), allow_methods=("POST",), max_age=300)
        >>> ask = HttpRequest("OPTIONS", "/", "", [("Origin", "https://a.example"),
        ...                   ("Access-Control-Request-Method", "POST")], b"", "127.0.0.1")
        >>> cors.preflight(ask).headers  # doctest: +NORMALIZE_WHITESPACE
        [('access-control-allow-origin', '*'), ('access-control-allow-methods', 'POST'),
         ('access-control-max-age', '300')]
        """
        origin, method = request.header("origin"), request.header("access-control-request-method")
        if request.method.upper() != "OPTIONS" or origin is None or method is None:
            return None
        methods = {m.upper() for m in self.allow_methods or ()}
        if not self.allows_origin(origin) or not ("*" in methods or method.upper() in methods):
            return HttpResponse(200, [], b"")
        headers = self.response_headers(origin)
        headers = [h for h in headers if h[0] != "access-control-expose-headers"]
        headers.append(("access-control-allow-methods", ",".join(self.allow_methods or ())))
        if self.allow_headers:
            asked = request.header("access-control-request-headers")
            allowed = asked if "*" in self.allow_headers and asked else ",".join(self.allow_headers)
            headers.append(("access-control-allow-headers", allowed))
        if self.max_age is not None:
            headers.append(("access-control-max-age", str(self.max_age)))
        return HttpResponse(200, headers, b"")

    def apply(self, response: HttpResponse, origin: str | None) -> HttpResponse:
        """``response`` with this configuration's CORS headers, which win over the function's own."""
        added = self.response_headers(origin)
        if not added:
            return response
        names = {name for name, _ in added}
        kept = [(k, v) for k, v in response.headers if k.lower() not in names]
        return HttpResponse(response.status, kept + added, response.body)


_CORS_FIELDS = ("AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins", "ExposeHeaders", "MaxAge")


def _strings(
    data: Mapping[str, Any], key: str, most: int, shortest: int, longest: int
) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"Cors.{key} must be a list of strings")
    if len(value) > most:
        raise InvalidInput(f"Cors.{key} has {len(value)} entries; at most {most} are allowed")
    for item in value:
        if not shortest <= len(item) <= longest:
            raise InvalidInput(f"Cors.{key} entry {item!r} must be {shortest}-{longest} characters long")
    return tuple(value)
