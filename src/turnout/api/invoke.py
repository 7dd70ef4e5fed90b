"""POST /v1/functions/{name}/invoke — the hot path, kept lean: no body model, no re-encoding.

A success answers 200 with the function's JSON result as-is. A function failure answers 502 (504 for
a timeout) with ``{"error": {"code", "message", "type", "trace"}}`` and ``X-Turnout-Function-Error``;
platform errors (404, 413, 429, 403…) keep their own status and code.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from turnout.domain.names import split_qualified
from turnout.errors import InvalidInput, RequestTooLarge
from turnout.gateway.invoke import Gateway, Invocation
from turnout.services.tokens import TokenService

router = APIRouter(prefix="/v1/functions", tags=["invoke"])


@router.post(
    "/{name}/invoke",
    summary="Invoke a function",
    description="Body: the event (JSON). Qualifier as `?qualifier=` or `name:qualifier`. "
    "Headers: `X-Turnout-Routing-Key` (sticky pick), `X-Turnout-Version-Override` (deploy scope).",
)
async def invoke(name: str, request: Request) -> Response:
    tokens: TokenService = request.app.state.services.tokens
    principal = tokens.authenticate(_bearer(request))
    principal.require("invoke")
    function, qualifier = split_qualified(name)
    query_qualifier = request.query_params.get("qualifier")
    if qualifier is not None and query_qualifier is not None and qualifier != query_qualifier:
        raise InvalidInput(f"two qualifiers given: {qualifier!r} in the name and {query_qualifier!r}")
    gateway: Gateway = request.app.state.gateway
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > gateway.max_request_bytes:
        raise RequestTooLarge(
            f"the request payload is {declared} bytes; the limit is {gateway.max_request_bytes}"
        )
    call = Invocation(
        function=function,
        qualifier=qualifier or query_qualifier,
        payload=await request.body(),
        principal=principal,
        routing_key=request.headers.get("x-turnout-routing-key"),
        override=request.headers.get("x-turnout-version-override"),
    )
    request_id, outcome = await gateway.invoke(call)
    headers = {"X-Turnout-Version": outcome.version, "X-Turnout-Request-Id": request_id}
    if outcome.cold:
        headers["X-Turnout-Init-Duration"] = f"{outcome.init_ms:.3f}"
    if outcome.error is None:
        return Response(outcome.payload, 200, headers, media_type="application/json")
    code = outcome.error_code or "Function.Unhandled"
    headers["X-Turnout-Function-Error"] = code
    body = {k: outcome.error.get(k) for k in ("type", "message", "trace")}
    return Response(
        json.dumps({"error": {"code": code, **body}}),
        504 if code == "Function.Timeout" else 502,
        headers,
        media_type="application/json",
    )


def _bearer(request: Request) -> str | None:
    kind, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if kind.lower() == "bearer" else None
