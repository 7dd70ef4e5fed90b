"""POST /v1/functions/{name}/invoke — the hot path.

One implementation, :func:`answer`, serves two doors: the FastAPI route below (documented in the
OpenAPI schema, used when the app runs on its own) and the HTTP protocol `turnout serve` runs
(:mod:`turnout.api.protocol`), which answers invocations without ASGI, routing, middleware or dependency
solving, in one write (it cuts the gateway's CPU per request by more than half; see BENCHMARKS.md).

A success answers 200 with the function's JSON result as-is. A function failure answers 502 (504 for
a timeout) with ``{"error": {"code", "message", "type", "trace"}}`` and ``X-Turnout-Function-Error``;
platform errors (404, 413, 429, 403…) keep their own status and code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from turnout.api.hosts import HostPolicy
from turnout.domain.names import split_qualified
from turnout.errors import InvalidInput, TurnoutError
from turnout.gateway.entry import Door, InvocationEntry, error_body, failure
from turnout.gateway.invoke import Invocation
from turnout.services.tokens import TokenService

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/functions", tags=["invoke"])
PREFIX, SUFFIX = "/v1/functions/", "/invoke"


@dataclass(slots=True)
class InvokeRequest:
    """The parts of an invoke request that matter, however it arrived."""

    name: str
    authorization: str | None
    query_qualifier: str | None
    content_length: str | None
    routing_key: str | None
    override: str | None
    asynchronous: bool = False  # ?async=true or X-Turnout-Invocation-Type: Event: queue it, answer 202
    host: str | None = None  # the Host header: the control plane answers known hosts only (api/hosts.py)


async def answer(
    state: Any, request: InvokeRequest, read_body: Callable[[], Awaitable[bytes]]
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) for one invoke request; platform errors raise :class:`TurnoutError`."""
    hosts: HostPolicy = state.hosts
    if not hosts.allows(request.host):
        raise hosts.refusal(request.host)
    tokens: TokenService = state.services.tokens
    principal = tokens.authenticate(_bearer(request.authorization))
    principal.require("invoke")
    function, qualifier = split_qualified(request.name)
    if qualifier is not None and request.query_qualifier is not None and qualifier != request.query_qualifier:
        raise InvalidInput(f"two qualifiers given: {qualifier!r} in the name and {request.query_qualifier!r}")
    entry: InvocationEntry = state.entry
    entry.check_declared(request.content_length, Door.INVOKE)
    call = Invocation(
        function=function,
        qualifier=qualifier or request.query_qualifier,
        payload=await read_body(),
        principal=principal,
        routing_key=request.routing_key,
        override=request.override,
    )
    if request.asynchronous:  # onto the durable queue: 202 and its request id once it is stored
        request_id = await entry.enqueue(call, Door.INVOKE)
        body = json.dumps({"request_id": request_id, "status": "queued"}).encode()
        return 202, {"X-Turnout-Request-Id": request_id}, body
    request_id, outcome = await entry.invoke(call, Door.INVOKE)
    headers = {"X-Turnout-Version": outcome.version, "X-Turnout-Request-Id": request_id}
    if outcome.cold:
        headers["X-Turnout-Init-Duration"] = f"{outcome.init_ms:.3f}"
    if outcome.error is None:
        return 200, headers, outcome.payload
    status, headers["X-Turnout-Function-Error"], body = failure(outcome)
    return status, headers, body


async def respond(
    state: Any, request: InvokeRequest, read_body: Callable[[], Awaitable[bytes]]
) -> tuple[int, dict[str, str], bytes]:
    """:func:`answer`, with platform errors (and surprises) turned into their JSON error answers."""
    try:
        return await answer(state, request, read_body)
    except TurnoutError as exc:
        return exc.status, exc.headers, error_body(exc)
    except Exception as exc:  # noqa: BLE001 - answer like the app's own handler would
        log.exception("unexpected error in invoke")
        message = f"internal error: {type(exc).__name__}"
        return 500, {}, json.dumps({"error": {"code": "InternalError", "message": message}}).encode()


_WANTED = {
    b"authorization": "authorization",
    b"content-length": "content_length",
    b"x-turnout-routing-key": "routing_key",
    b"x-turnout-version-override": "override",
    b"host": "host",
}


def invoke_request(name: str, raw_headers: Iterable[tuple[bytes, bytes]], raw_query: bytes) -> InvokeRequest:
    """An :class:`InvokeRequest` from raw HTTP parts (lower-case header names, the query string).

    Only the headers it needs are decoded (this runs for every invocation)."""
    request = InvokeRequest(name, None, None, None, None, None)
    for key, value in raw_headers:
        field_name = _WANTED.get(key)
        if field_name is not None:
            setattr(request, field_name, value.decode("latin-1"))
        elif key == b"x-turnout-invocation-type":
            request.asynchronous = value.decode("latin-1").lower() == "event"
    if raw_query:
        query = dict(parse_qsl(raw_query.decode("latin-1")))
        request.query_qualifier = query.get("qualifier")
        request.asynchronous = request.asynchronous or is_async(query, {})
    return request


def is_async(query: dict[str, str] | Any, headers: dict[str, str] | Any) -> bool:
    flag = (query.get("async") or "").lower() in ("1", "true", "yes")
    return flag or (headers.get("x-turnout-invocation-type") or "").lower() == "event"


@router.post(
    "/{name}/invoke",
    summary="Invoke a function",
    description="Body: the event (JSON). Qualifier as `?qualifier=` or `name:qualifier`. "
    "Headers: `X-Turnout-Routing-Key` (sticky pick), `X-Turnout-Version-Override` (deploy scope). "
    "`?async=true` or `X-Turnout-Invocation-Type: Event`: queue the event, answer 202 with its request id.",
)
async def invoke(name: str, request: Request) -> Response:
    h = request.headers
    parts = InvokeRequest(
        name=name,
        authorization=h.get("authorization"),
        query_qualifier=request.query_params.get("qualifier"),
        content_length=h.get("content-length"),
        routing_key=h.get("x-turnout-routing-key"),
        override=h.get("x-turnout-version-override"),
        asynchronous=is_async(request.query_params, h),
        host=h.get("host"),
    )
    status, headers, body = await answer(request.app.state, parts, request.body)
    return Response(body, status, headers, media_type="application/json")


def invoke_name(path: str) -> str | None:
    """The function name in ``/v1/functions/{name}/invoke``, or None for any other path."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    name = path[len(PREFIX) : -len(SUFFIX)]
    return name if name and "/" not in name else None


def _bearer(authorization: str | None) -> str | None:
    kind, _, value = (authorization or "").partition(" ")
    return value.strip() if kind.lower() == "bearer" else None
