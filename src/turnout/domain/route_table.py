"""Matching HTTP requests to routes: pure, no I/O.

A route is a method (or ``ANY``), an optional host and a path of segments: literal ones (``items``),
parameters (``{id}``, one whole segment, passed to the function as ``pathParameters``) and, last only,
a greedy parameter (``{proxy+}``, one or more segments: a path prefix). When several routes match a
request, the most specific wins, compared in this order: a route for the request's host over one for
any host; then segment by segment from the left, literal over parameter over greedy (so more literal
segments win); then the longer path; then a named method over ``ANY``.

Paths under Turnout's own prefixes (:data:`RESERVED_PREFIXES`) are never routes: such a route is
refused, and a request under them is never matched, so even ``/{proxy+}`` cannot hide the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from turnout.domain.event_template import EventTemplate
from turnout.errors import InvalidInput

ANY = "ANY"
METHODS = ("ANY", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RESERVED_PREFIXES = (
    "/v1",
    "/2015-03-31",
    "/2017-10-31",
    "/2019-09-25",
    "/2019-09-30",
    "/2021-10-31",
    "/lambda-url",
    "/metrics",
    "/docs",
    "/openapi.json",
    "/redoc",
)
_RESERVED = frozenset(RESERVED_PREFIXES)
_RESERVED_TREES = tuple(prefix + "/" for prefix in RESERVED_PREFIXES)
MAX_PATH = 1024
MAX_HOST = 253
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")
_LITERAL = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]+")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,128}")

LITERAL, PARAM, GREEDY = 2, 1, 0


@dataclass(frozen=True)
class Segment:
    kind: int  # LITERAL, PARAM or GREEDY
    text: str  # the literal (decoded), or the parameter's name


def check_method(method: str | None) -> str:
    """The method in upper case; ``None`` is ``ANY``.

    >>> check_method(None), check_method("get")
    ('ANY', 'GET')
    """
    if method is None or method == "":
        return ANY
    upper = method.upper()
    if upper not in METHODS:
        raise InvalidInput(f"invalid method {method!r}: use one of {', '.join(METHODS)}")
    return upper


def check_host(host: str | None) -> str:
    """A host name in lower case, without a port; ``""`` (any host) for none.

    >>> check_host("API.Example.com"), check_host(None)
    ('api.example.com', '')
    """
    if not host:
        return ""
    lowered = host.lower().rstrip(".")
    if len(lowered) > MAX_HOST or not _HOST.fullmatch(lowered):
        raise InvalidInput(f"invalid host {host!r}: give a host name such as api.example.com (no port)")
    return lowered


def check_token(kind: str, name: str | None) -> str | None:
    """A cookie or header name (an HTTP token), or None."""
    if name is None or name == "":
        return None
    if not _TOKEN.fullmatch(name):
        raise InvalidInput(f"invalid {kind} name {name!r}: use letters, digits and - _ . (1-128 characters)")
    return name


def parse_path(path: str) -> tuple[Segment, ...]:
    """The segments of a route's path; refuses malformed paths and Turnout's own prefixes.

    >>> [(s.kind, s.text) for s in parse_path("/items/{id}/{proxy+}")]
    [(2, 'items'), (1, 'id'), (0, 'proxy')]
    >>> parse_path("/")
    ()
    """
    if not path.startswith("/") or len(path) > MAX_PATH:
        raise InvalidInput(f"invalid path {path!r}: it starts with '/' and has at most {MAX_PATH} characters")
    if reserved(path):
        raise InvalidInput(
            f"path {path!r} is under one of Turnout's own prefixes ({', '.join(RESERVED_PREFIXES)}): "
            "choose another path"
        )
    if path == "/":
        return ()
    parts = path[1:].split("/")
    segments: list[Segment] = []
    names: set[str] = set()
    for index, part in enumerate(parts):
        param = _PARAM.fullmatch(part)
        if param is not None:
            name, greedy = param.group(1), bool(param.group(2))
            if greedy and index != len(parts) - 1:
                raise InvalidInput(f"invalid path {path!r}: a greedy {{{name}+}} segment must be the last")
            if name in names:
                raise InvalidInput(f"invalid path {path!r}: parameter {name!r} appears twice")
            names.add(name)
            segments.append(Segment(GREEDY if greedy else PARAM, name))
        elif _LITERAL.fullmatch(part):
            segments.append(Segment(LITERAL, unquote(part)))
        else:
            raise InvalidInput(
                f"invalid path {path!r}: segment {part!r} is empty or has characters a path cannot have"
            )
    return tuple(segments)


def shape(segments: Sequence[Segment]) -> str:
    """The path with parameter names left out: two routes of the same shape match the same requests.

    >>> shape(parse_path("/items/{id}/{rest+}"))
    '/items/{}/{+}'
    """
    texts = {PARAM: "{}", GREEDY: "{+}"}
    return "/" + "/".join(texts.get(s.kind, s.text) for s in segments)


def reserved(path: str) -> bool:
    """Whether ``path`` is Turnout's own.

    >>> reserved("/v1/routes"), reserved("/v1"), reserved("/v10"), reserved("/docs/x")
    (True, True, False, True)
    """
    return path in _RESERVED or path.startswith(_RESERVED_TREES)  # C-speed: this runs for every request


@dataclass(frozen=True)
class Route:
    """What the table needs of a stored route."""

    id: int
    method: str
    host: str
    path: str
    function: str
    qualifier: str
    sticky_cookie: str | None = None
    sticky_header: str | None = None
    segments: tuple[Segment, ...] = field(default=(), compare=False)
    queued: bool = False  # requests go on the async queue (202)
    # the route's event, with routeKey encoded once (the hot path; made in __post_init__)
    event: EventTemplate = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.event is None:
            object.__setattr__(self, "event", EventTemplate(self.route_key))

    @classmethod
    def of(
        cls,
        id: int,
        method: str,
        host: str,
        path: str,
        function: str,
        qualifier: str,
        sticky_cookie: str | None = None,
        sticky_header: str | None = None,
        queued: bool = False,
    ) -> Route:
        segments = parse_path(path)
        return cls(
            id, method, host, path, function, qualifier, sticky_cookie, sticky_header, segments, queued
        )

    @property
    def route_key(self) -> str:
        """API Gateway's ``routeKey``: ``GET /items/{id}``."""
        return f"{self.method} {self.path}"

    def specificity(self) -> tuple[int, tuple[int, ...], int, int]:
        kinds = tuple(s.kind for s in self.segments)
        return (1 if self.host else 0, kinds, len(kinds), 0 if self.method == ANY else 1)

    def label(self) -> str:
        """How the route is named in messages: ``route GET api.example.com/items``."""
        return f"route {self.method} {self.host}{self.path}"


@dataclass(frozen=True)
class Match:
    route: Route
    parameters: dict[str, str]


def split_request_path(raw_path: str) -> list[str] | None:
    """A request's raw path as decoded segments; None when it is not an absolute path.

    >>> split_request_path("/a%20b/c"), split_request_path("/")
    (['a b', 'c'], [])
    """
    if not raw_path.startswith("/"):
        return None
    if raw_path == "/":
        return []
    return [unquote(part) for part in raw_path[1:].split("/")]


def match_segments(segments: Sequence[Segment], parts: Sequence[str]) -> dict[str, str] | None:
    """The path parameters if ``parts`` match ``segments``, else None.

    >>> match_segments(parse_path("/a/{id}/{rest+}"), ["a", "7", "x", "y"])
    {'id': '7', 'rest': 'x/y'}
    """
    parameters: dict[str, str] = {}
    for index, segment in enumerate(segments):
        if segment.kind == GREEDY:
            rest = parts[index:]
            if not rest or not any(rest):
                return None
            parameters[segment.text] = "/".join(rest)
            return parameters
        if index >= len(parts):
            return None
        part = parts[index]
        if segment.kind == LITERAL:
            if part != segment.text:
                return None
        elif part == "":
            return None
        else:
            parameters[segment.text] = part
    return parameters if len(parts) == len(segments) else None


def request_host(host_header: str | None) -> str:
    """The Host header without port, lower case.

    >>> request_host("API.example.com:8420"), request_host("[::1]:80"), request_host(None)
    ('api.example.com', '[::1]', '')
    """
    if not host_header:
        return ""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text.partition("]")[0] + "]"
    return text.partition(":")[0].rstrip(".")


MEMO_SIZE = 4096  # requests (method, Host, path) whose match a table remembers; forgotten all at once


class RouteTable:
    """Routes ordered most specific first; :meth:`match` returns the first that fits a request.

    A table never changes (a new one replaces it), so it remembers the answer for the last
    :data:`MEMO_SIZE` distinct requests: a hot path is matched once. The :class:`Match` is shared
    between the requests it answers; its ``parameters`` are read, never changed.
    """

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.routes = sorted(routes, key=lambda r: (r.specificity(), -r.id), reverse=True)
        self._memo: dict[tuple[str, str, str], Match | None] = {}

    def __len__(self) -> int:
        return len(self.routes)

    def __repr__(self) -> str:
        return f"RouteTable({len(self.routes)} routes)"

    def match(self, method: str, host: str, raw_path: str) -> Match | None:
        """The route a request goes to (``host`` as the Host header sent it), or None."""
        key = (method, host, raw_path)
        try:
            return self._memo[key]
        except KeyError:
            pass
        found = self._match(method, host, raw_path)
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = found
        return found

    def _match(self, method: str, host: str, raw_path: str) -> Match | None:
        if not self.routes or reserved(raw_path):
            return None
        parts = split_request_path(raw_path)
        if parts is None:
            return None
        method, host = method.upper(), request_host(host)
        for route in self.routes:
            if route.method not in (ANY, method) and not (route.method == "GET" and method == "HEAD"):
                continue
            if route.host and route.host != host:
                continue
            parameters = match_segments(route.segments, parts)
            if parameters is not None:
                return Match(route, parameters)
        return None
