"""``GET /metrics`` (Prometheus text format, this node's) and ``GET /v1/functions/{name}/logs`` (invocation
logs of every node, read through ``cluster/peers.py``)."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from turnout.api.deps import Reader, ServicesDep
from turnout.cluster.peers import ClusterLogs, LogQuery
from turnout.domain.names import LATEST
from turnout.errors import InvalidInput
from turnout.gateway.logs import parse_since
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
    summary="A function's invocation logs, from every node",
    description="Each invocation's captured stdout, stderr and `logging` output, oldest first, from every "
    "live node merged by time; each record names the `node` that ran it. Without `after`: the newest "
    "`limit` records; with `after` (the `next` of an earlier answer, an opaque cursor): the records "
    "written since, so polling with it follows the log. Nodes that did not answer are listed in "
    "`missing_nodes`. `local=1` answers this node's records only, with its own numeric position as "
    "`next` (what nodes ask each other).",
)
async def function_logs(
    name: str,
    request: Request,
    svc: ServicesDep,
    _: Reader,
    version: Annotated[str | None, Query(description="only this version (a number or $LATEST)")] = None,
    request_id: Annotated[str | None, Query(description="only this invocation")] = None,
    since: Annotated[
        str | None, Query(description="an ISO 8601 time, or an age: seconds, or 30s, 10m, 2h, 1d")
    ] = None,
    after: Annotated[
        str | None, Query(max_length=65536, description="a cursor: the `next` of an earlier answer")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    local: Annotated[bool, Query(description="only this node's records (nodes ask each other so)")] = False,
) -> dict[str, Any]:
    if version is not None and version != LATEST and not _VERSION.fullmatch(version):
        raise InvalidInput(f"version must be a version number or {LATEST}, not {version!r}")
    query = LogQuery(version, request_id, None if since is None else parse_since(since), after, limit)
    await asyncio.to_thread(svc.functions.get, name)  # FunctionNotFound (404): no such function
    logs: ClusterLogs = request.app.state.cluster_logs
    if local:
        return await logs.local(name, query)
    return await logs.read(name, query, request.headers.get("authorization"))
