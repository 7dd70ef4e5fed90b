"""Serving HTTP routes on the gateway's port (issue 6): one answer, two ways in.

:func:`serve_route` answers a request that matched a route. ``turnout serve`` calls it from its HTTP
protocol (``api/protocol.py``) without ASGI, in one write; :class:`RouteDoor`, raw ASGI in front of the
app, calls it when the app runs on another server, and for the rare request the protocol hands on (the
route table is not loaded: at start, or after a change dropped it). A table past its cache time keeps
serving while it is read again in a worker thread (:func:`loaded_table`). The event is written by the
route's :class:`~turnout.domain.event_template.EventTemplate`: the same bytes as
``json.dumps(to_event(...))``, with the route's constant parts encoded once. Both reach the function
through the invocation entry (``gateway/entry.py``).

An HTTP request that matches a route (``domain/route_table.py``) becomes an API Gateway payload format
2.0 event (``domain/http_event.py``, as function URLs do, with the route's ``routeKey`` and
``pathParameters``) for the route's function and qualifier; the function's answer maps back to the
HTTP response. Everything else (Turnout's own paths, paths no route matches, lifespan and websockets)
goes to the app unchanged, so an unknown path is the app's 404.

Answers: a function error, or a result that claims to be an HTTP response but is not a valid one, is
502 ``{"message": "Internal Server Error"}``; a platform error keeps its status with
``{"error": {"code", "message"}}`` (413 above the invoke limit, 404 for an alias that went, 429...).

``X-Turnout-Version: N`` on a request to a route bound to an alias runs version N, through the alias
(its settings apply), when the alias routes to N at that moment (else 404): every version behind an
alias can be tried without moving traffic and without a token, as those versions serve the public
anyway. On a route pinned to a version, N must be that version.

Sticky routes: with a sticky cookie the cookie's value is the routing key (a new random key is made,
used and set as the cookie when the request has none); with a sticky header, the header's value is.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from turnout.domain.http_event import HttpRequest, HttpResponse
from turnout.domain.ids import new_request_id
from turnout.domain.route_table import Match, Route, RouteTable, reserved
from turnout.domain.version_number import is_version_text
from turnout.errors import NotFound, TurnoutError
from turnout.gateway.entry import JSON, Door, InvocationEntry, error_answer, http_answer
from turnout.gateway.http_request import RawRequest, forwarded_headers, from_asgi, read_body
from turnout.gateway.invoke import Gateway, Invocation
from turnout.services.routes import invoke_qualifier
from turnout.services.tokens import Principal

log = logging.getLogger(__name__)
VERSION_HEADER = "x-turnout-version"
ReadBody = Callable[[], Awaitable[bytes]]


class RouteDoor:
    """Requests that match a route go to its function; everything else to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state

    def __repr__(self) -> str:
        return f"RouteDoor({self.app!r})"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = await self._match(scope) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        entry: InvocationEntry = self.state.entry
        answer = await serve_route(
            self.state, match, from_asgi(request), lambda: read_body(request, entry.max_request_bytes)
        )
        response = Response(b"" if request.method == "HEAD" else answer.body, answer.status)
        response.raw_headers += [
            (k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in answer.headers
        ]
        await response(scope, receive, send)

    async def _match(self, scope: dict[str, Any]) -> Match | None:
        if reserved(scope.get("path", "")):
            return None
        table = loaded_table(self.state)
        if table is None:
            table = await run_in_threadpool(self.state.services.routes.table)
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        return table.match(scope["method"], host, raw.decode("latin-1").split("?", 1)[0]) if table else None


def loaded_table(state: Any) -> RouteTable | None:
    """The route table to match against (None: load it first, off the event loop). A table past its
    cache time is still served while a worker thread reads it again (``RouteService.serving``)."""
    routes = state.services.routes
    table: RouteTable | None
    table, reload = routes.serving()
    if reload:
        asyncio.get_running_loop().run_in_executor(None, routes.reload).add_done_callback(_reloaded)
    return table


def _reloaded(future: asyncio.Future[Any]) -> None:
    error = None if future.cancelled() else future.exception()
    if error is not None:  # the stale table keeps serving; the next request tries again
        log.warning("could not re-read the route table: %s", error)


async def serve_route(state: Any, match: Match, request: RawRequest, read: ReadBody) -> HttpResponse:
    """The answer to a request that matched a route: the function's, or a platform error's."""
    try:
        return await _serve(state, match, request, read)
    except TurnoutError as exc:
        return error_answer(exc, match.route.label())


async def _serve(state: Any, match: Match, request: RawRequest, read: ReadBody) -> HttpResponse:
    route = match.route
    entry: InvocationEntry = state.entry
    principal = _principal(route.id)
    override = None
    wanted = request.header(VERSION_HEADER)
    if wanted is not None:
        principal, override = await _tried_version(route, wanted, entry.gateway)
    key, new_cookie = _routing_key(route, request)
    entry.check_declared(request.header("content-length"), Door.ROUTE)
    http = HttpRequest(
        method=request.method,
        path=request.raw_path,
        query=request.query,
        headers=forwarded_headers(request),
        body=await read(),
        source_ip=request.client,
        protocol=f"HTTP/{request.http_version}",
    )
    event_id = new_request_id()
    # the bytes json.dumps(to_event(...)) would give, with the route's constant parts written once
    parameters = match.parameters or None
    payload = route.event.encode(http, request.hostname, event_id, datetime.now(UTC), parameters)
    qualifier = invoke_qualifier(route.qualifier)
    call = Invocation(route.function, qualifier, payload, principal, routing_key=key, override=override)
    if route.queued:  # onto the durable queue: 202 with the request id, the event runs later
        queued_id = await entry.enqueue(call, Door.ROUTE, event_id, built=True)
        body = json.dumps({"request_id": queued_id, "status": "queued"}).encode()
        headers = [
            ("content-type", JSON),
            ("x-amzn-requestid", queued_id),
            ("x-turnout-request-id", queued_id),
        ]
        return HttpResponse(202, headers, body)
    invocation_id, outcome = await entry.invoke(call, Door.ROUTE, built=True)
    answer = http_answer(outcome, route.label())
    answer.headers.extend(
        [
            ("x-amzn-requestid", event_id),
            ("x-turnout-request-id", invocation_id),
            ("x-turnout-version", outcome.version),
        ]
    )
    if new_cookie is not None:
        answer.headers.append(("set-cookie", new_cookie))
    return answer


@functools.lru_cache(maxsize=1024)
def _principal(route_id: int) -> Principal:
    """Who a route's requests invoke as (made once per route: this runs for every request)."""
    return Principal(f"route:{route_id}", frozenset({"invoke"}))


async def _tried_version(route: Route, wanted: str, gateway: Gateway) -> tuple[Principal, str | None]:
    """(principal, override) for ``X-Turnout-Version``: only a version the route serves right now."""
    number = int(wanted) if is_version_text(wanted) else None
    qualifier = invoke_qualifier(route.qualifier)
    refused = NotFound(
        f"{route.label()} does not serve version {wanted!r} now: "
        "X-Turnout-Version reaches only the versions its alias routes to",
        version=wanted,
    )
    if number is None or qualifier is None:
        raise refused
    if is_version_text(qualifier):
        if int(qualifier) != number:
            raise refused
        return Principal(f"route:{route.id}", frozenset({"invoke"})), None
    entry = gateway.table.get(route.function)
    if entry is None:
        entry = await run_in_threadpool(gateway.table.ensure, route.function)
    alias = None if entry is None else entry.aliases.get(qualifier)
    if alias is None or number not in alias.routing.versions:
        raise refused
    # the gateway lets an override through for deploy scope only; the version is checked to be live
    return Principal(f"route:{route.id}:version-test", frozenset({"invoke", "deploy"})), str(number)


def _routing_key(route: Route, request: RawRequest) -> tuple[str | None, str | None]:
    """(routing key, Set-Cookie to add) of a sticky route; (None, None) for the others."""
    if route.sticky_header is not None:
        return request.header(route.sticky_header.lower()) or None, None
    if route.sticky_cookie is None:
        return None, None
    found = request.cookie(route.sticky_cookie)
    if found:
        return found, None
    key = secrets.token_urlsafe(16)
    return key, f"{route.sticky_cookie}={key}; Path=/; HttpOnly; SameSite=Lax"
