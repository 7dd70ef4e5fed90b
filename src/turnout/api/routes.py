"""/v1/routes (issue 6): HTTP routes served on the gateway's port, bound to a function's qualifier."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.store.routes import RouteRecord

router = APIRouter(tags=["routes"])
RouteId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the route's id")]  # fits the store's column


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str | None = Field(None, description="GET, POST…; ANY (the default) matches every method")
    path: str = Field(description="/exact, /items/{id} (pathParameters), /prefix/{proxy+} (greedy, last)")
    function: str
    qualifier: str | None = Field(None, description="alias (follows it), version number (pinned), $LATEST")
    host: str | None = Field(None, description="only requests with this Host; none: any host")
    sticky_cookie: str | None = Field(None, description="cookie whose value keeps a browser on one version")
    sticky_header: str | None = Field(None, description="header whose value is the routing key")
    queued: bool = Field(False, description="put requests on the async queue and answer 202 at once")


def route_json(record: RouteRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "method": record.method,
        "host": record.host or None,
        "path": record.path,
        "function": record.function,
        "qualifier": record.qualifier,
        "route_key": f"{record.method} {record.path}",
        "sticky_cookie": record.sticky_cookie,
        "sticky_header": record.sticky_header,
        "queued": record.queued,
        "created_by": record.created_by,
        "created_at": record.created_at.isoformat(),
    }


@router.post("/v1/routes", status_code=201)
def add_route(body: RouteBody, svc: ServicesDep, principal: Deployer) -> dict[str, Any]:
    record = svc.routes.add(
        body.method,
        body.path,
        body.function,
        body.qualifier,
        body.host,
        body.sticky_cookie,
        body.sticky_header,
        principal.name,
        body.queued,
    )
    return route_json(record)


@router.get("/v1/routes")
def list_routes(svc: ServicesDep, _: Reader, function: str | None = None) -> dict[str, Any]:
    return {"routes": [route_json(r) for r in svc.routes.list(function)]}


@router.get("/v1/routes/{route_id}")
def get_route(route_id: RouteId, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return route_json(svc.routes.get(route_id))


@router.delete("/v1/routes/{route_id}", status_code=204)
def delete_route(route_id: RouteId, svc: ServicesDep, _: Deployer) -> None:
    svc.routes.remove(route_id)
