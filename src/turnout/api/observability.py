"""``GET /metrics`` (Prometheus text format) and ``GET /v1/functions/{name}/logs`` (invocation logs)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from turnout.api.deps import Reader, ServicesDep
from turnout.domain.names import LATEST
from turnout.errors import InvalidInput
from turnout.gateway.logs import LogSink, parse_since
from turnout.gateway.metrics import CONTENT_TYPE, Metrics
from turnout.services.tokens import TokenService

router = APIRouter(tags=["observability"])
_VERSION = re.compile(r"[1-9][0-9]{0,9}")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="The text exposition format. Needs a token with `read` scope unless the server runs "
    "with TURNOUT_METRICS_PUBLIC=1.",
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    # async on purpose: the live concurrency gauge reads the supervisor's counters on the event loop
    if not request.app.state.settings.metrics_public:
        tokens: TokenService = request.app.state.services.tokens
        kind, _, value = request.headers.get("authorization", "").partition(" ")
        tokens.authenticate(value.strip() if kind.lower() == "bearer" else None).require("read")
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)


@router.get(
    "/v1/functions/{name}/logs",
    summary="A function's invocation logs",
    description="Each invocation's captured stdout, stderr and `logging` output, oldest first. Without "
    "`after`: the newest `limit` records; with `after` (the `next` of an earlier answer): the records "
    "written since, so polling with it follows the log.",
)
def function_logs(
    name: str,
    request: Request,
    svc: ServicesDep,
    _: Reader,
    version: Annotated[str | None, Query(description="only this version (a number or $LATEST)")] = None,
    request_id: Annotated[str | None, Query(description="only this invocation")] = None,
    since: Annotated[
        str | None, Query(description="an ISO 8601 time, or an age: seconds, or 30s, 10m, 2h, 1d")
    ] = None,
    after: Annotated[int | None, Query(ge=0, description="a cursor: the `next` of an earlier answer")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    if version is not None and version != LATEST and not _VERSION.fullmatch(version):
        raise InvalidInput(f"version must be a version number or {LATEST}, not {version!r}")
    svc.functions.get(name)  # FunctionNotFound (404) for a function that does not exist
    sink: LogSink = request.app.state.logs
    page = sink.read(
        name,
        version=version,
        request_id=request_id,
        since=None if since is None else parse_since(since),
        after=after,
        limit=limit,
    )
    return {"records": page.records, "next": page.next}
