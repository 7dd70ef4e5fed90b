"""The console's log tail: a function's invocation logs from every node (the API's reader,
:class:`~turnout.cluster.peers.ClusterLogs`), filtered by version, request id or errors only, followed
live by polling with the reader's cursor."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from turnout.cluster.peers import ClusterLogs, LogQuery
from turnout.console.web import Visitor, page, services
from turnout.domain.names import LATEST
from turnout.errors import InvalidInput

_VERSION = re.compile(r"[1-9][0-9]{0,9}")
TAIL = 200


async def logs_page(request: Request, visitor: Visitor) -> HTMLResponse:
    name = request.path_params["name"]
    filters = _filters(request)
    await run_in_threadpool(services(request).functions.get, name)  # FunctionNotFound: no such function
    return page(request, "logs.html", visitor=visitor, name=name, **filters)


async def logs_tail(request: Request, visitor: Visitor) -> Response:
    """Records after the ``after`` cursor (the newest :data:`TAIL` without one) and the next cursor."""
    name = request.path_params["name"]
    filters = _filters(request)
    await run_in_threadpool(services(request).functions.get, name)
    query = LogQuery(
        filters["version"] or None,
        filters["request_id"] or None,
        None,
        request.query_params.get("after"),
        TAIL,
    )
    reader: ClusterLogs = request.app.state.cluster_logs
    found = await reader.read(name, query, f"Bearer {visitor.session.token}")
    records = [r for r in found["records"] if not filters["errors"] or r.get("error")]
    body: dict[str, Any] = {
        "records": records,
        "next": found["next"],
        "missing_nodes": found["missing_nodes"],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _filters(request: Request) -> dict[str, Any]:
    version = request.query_params.get("version", "").strip()
    if version and version != LATEST and not _VERSION.fullmatch(version):
        raise InvalidInput(f"version must be a version number or {LATEST}, not {version!r}")
    request_id = request.query_params.get("request_id", "").strip()[:200]
    return {"version": version, "request_id": request_id, "errors": request.query_params.get("errors") == "1"}
