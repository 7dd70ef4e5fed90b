"""Serving HTTP routes on the gateway's port: raw ASGI in front of the app (issue 6).

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
import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from turnout.domain.http_event import EventContext, HttpRequest, HttpResponse, InvalidResponse, to_event
from turnout.domain.http_event import to_response as http_response
from turnout.domain.ids import new_request_id
from turnout.domain.route_table import Match, Route, reserved
from turnout.domain.version_number import is_version_text
from turnout.errors import NotFound, TurnoutError
from turnout.gateway.http_request import forwarded_headers, read_body
from turnout.gateway.invoke import Gateway, Invocation
from turnout.services.routes import RouteService, invoke_qualifier
from turnout.services.tokens import Principal

log = logging.getLogger(__name__)
VERSION_HEADER = "x-turnout-version"
FUNCTION_FAILED = b'{"message": "Internal Server Error"}'
JSON_HEADERS = [("content-type", "application/json")]


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
        try:
            answer = await self._serve(match, request)
        except TurnoutError as exc:
            if exc.status >= 500:
                log.error("%s: %s: %s", match.route.label(), exc.code, exc.message)
            answer = HttpResponse(
                exc.status, list(JSON_HEADERS), json.dumps({"error": exc.to_dict()}).encode()
            )
        response = Response(b"" if request.method == "HEAD" else answer.body, answer.status)
        response.raw_headers += [
            (k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in answer.headers
        ]
        await response(scope, receive, send)

    async def _match(self, scope: dict[str, Any]) -> Match | None:
        if reserved(scope.get("path", "")):
            return None
        routes: RouteService = self.state.services.routes
        table = routes.peek()
        if table is None:
            table = await run_in_threadpool(routes.table)
        if not table:
            return None
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        return table.match(scope["method"], host, raw.decode("latin-1").split("?", 1)[0])

    async def _serve(self, match: Match, request: Request) -> HttpResponse:
        route = match.route
        gateway: Gateway = self.state.gateway
        principal = Principal(f"route:{route.id}", frozenset({"invoke"}))
        override = None
        wanted = request.headers.get(VERSION_HEADER)
        if wanted is not None:
            principal, override = await self._tried_version(route, wanted, gateway)
        key, new_cookie = _routing_key(route, request)
        raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
        http = HttpRequest(
            method=request.method,
            path=raw.decode("latin-1").split("?", 1)[0],
            query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=forwarded_headers(request),
            body=await read_body(request, gateway.max_request_bytes),
            source_ip=request.client.host if request.client else "",
            protocol=f"HTTP/{request.scope.get('http_version', '1.1')}",
        )
        domain = request.url.hostname or ""
        event_id = new_request_id()
        context = EventContext(
            api_id="turnout",
            domain_name=domain,
            domain_prefix=domain.split(".", 1)[0],
            request_id=event_id,
            at=datetime.now(UTC),
            route_key=route.route_key,
            path_parameters=match.parameters or None,
        )
        payload = json.dumps(to_event(http, context)).encode()
        call = Invocation(
            route.function,
            invoke_qualifier(route.qualifier),
            payload,
            principal,
            routing_key=key,
            override=override,
        )
        if route.queued:  # onto the durable queue: 202 with the request id, the event runs later
            await gateway.resolve(call)  # unknown alias/version: 404 now, not a dead letter
            queue = self.state.services.queue
            queued_id = await asyncio.to_thread(
                queue.enqueue, route.function, invoke_qualifier(route.qualifier), payload, event_id
            )
            body = json.dumps({"request_id": queued_id, "status": "queued"}).encode()
            return HttpResponse(
                202,
                [*JSON_HEADERS, ("x-amzn-requestid", queued_id), ("x-turnout-request-id", queued_id)],
                body,
            )
        invocation_id, outcome = await gateway.invoke(call)
        answer = _answer(outcome.payload, outcome.error, route)
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

    async def _tried_version(
        self, route: Route, wanted: str, gateway: Gateway
    ) -> tuple[Principal, str | None]:
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


def _routing_key(route: Route, request: Request) -> tuple[str | None, str | None]:
    """(routing key, Set-Cookie to add) of a sticky route; (None, None) for the others."""
    if route.sticky_header is not None:
        return request.headers.get(route.sticky_header) or None, None
    if route.sticky_cookie is None:
        return None, None
    found = request.cookies.get(route.sticky_cookie)
    if found:
        return found, None
    key = secrets.token_urlsafe(16)
    return key, f"{route.sticky_cookie}={key}; Path=/; HttpOnly; SameSite=Lax"


def _answer(payload: bytes, error: dict[str, Any] | None, route: Route) -> HttpResponse:
    if error is not None:
        return HttpResponse(502, list(JSON_HEADERS), FUNCTION_FAILED)
    try:
        return http_response(payload)
    except InvalidResponse as exc:
        log.warning("%s: the function's answer is not an HTTP response: %s", route.label(), exc)
        return HttpResponse(502, list(JSON_HEADERS), FUNCTION_FAILED)
