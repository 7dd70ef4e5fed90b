"""``GET /v1/health`` (liveness), ``GET /v1/ready`` (readiness, for load balancers), ``GET /v1/nodes``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from turnout import __version__
from turnout.api.deps import Reader
from turnout.cluster.nodes import Membership
from turnout.gateway.readiness import Readiness

router = APIRouter(tags=["health"])


@router.get("/v1/health", summary="Liveness: the process answers")
def health(request: Request) -> dict[str, Any]:
    state = request.app.state
    sandbox = state.sandbox.to_json()
    return {"status": "ok", "version": __version__, "node": state.settings.node, "sandbox": sandbox}


@router.get(
    "/v1/ready",
    summary="Readiness: a load balancer may send this node requests",
    description="200 once the node has loaded its routing table, its change feed listens (cluster mode) and "
    "its zygote is up; 503 with the reasons otherwise, and while it drains for a graceful shutdown.",
    responses={503: {"description": "not ready, with the reasons"}},
)
async def ready(request: Request) -> JSONResponse:
    readiness: Readiness = request.app.state.readiness
    reasons = readiness.reasons()
    body = {
        "ready": not reasons,
        "node": request.app.state.settings.node,
        "reasons": reasons,
        "degraded": readiness.degraded(),
    }
    return JSONResponse(body, status_code=503 if reasons else 200)


@router.get("/v1/nodes", summary="The nodes of this platform and their heartbeats")
def nodes(request: Request, _: Reader) -> dict[str, Any]:
    membership: Membership = request.app.state.membership
    return {
        "node": membership.me.name,
        "nodes": [
            {
                "name": record.name,
                "address": record.address,
                "version": record.version,
                "state": state,
                "started_at": record.started_at.isoformat(),
                "seen_at": record.seen_at.isoformat(),
                "stopped_at": None if record.stopped_at is None else record.stopped_at.isoformat(),
                **record.info,
            }
            for record, state in membership.list()
        ],
    }
