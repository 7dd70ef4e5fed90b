"""/v1/resources: shared resources (a database schema, a message format...) and their versions.

Moving one is checked against the versions that carry traffic (``docs/releases.md``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.api.schemas import ResourceBody
from turnout.domain.compat import Clash, Resource, ResourceChange

router = APIRouter(prefix="/v1/resources", tags=["resources"])


def resource_json(r: Resource) -> dict[str, Any]:
    return {
        "name": r.name,
        "version": r.version,
        "updated_by": r.updated_by,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


def resource_change_json(c: ResourceChange) -> dict[str, Any]:
    return {
        "resource": c.resource,
        "before": c.before,
        "after": c.after,
        "actor": c.actor,
        "reason": c.reason,
        "forced": c.forced,
        "details": dict(c.details),
        "at": c.at.isoformat(),
    }


def _clashes(found: tuple[Clash, ...]) -> list[dict[str, object]]:
    return [c.to_json() for c in found]


@router.get("")
def list_resources(svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return {"resources": [resource_json(r) for r in svc.resources.list()]}


@router.get("/{name}")
def describe_resource(name: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    found = svc.resources.get(name)
    users = [
        {
            "function": f,
            "version": "$LATEST" if v is None else v,
            "requires": spec,
            "ok": ok,
            "via": list(via),
        }
        for f, v, spec, ok, via in svc.resources.users(name)
    ]
    return {**resource_json(found), "required_by": users}


@router.put("/{name}")
def set_resource(
    name: str, body: ResourceBody, response: Response, svc: ServicesDep, principal: Deployer
) -> dict[str, Any]:
    """Record the resource's current version. Refused (409 Incompatible, listing them) when live versions
    require a range without it, unless ``force``; ``dry_run`` lists them and writes nothing."""
    move = svc.resources.set(name, str(body.version), principal.name, body.reason, body.force, body.dry_run)
    if move.before is None and move.changed and not move.dry_run:
        response.status_code = 201
    return {
        **resource_json(move.resource),
        "before": move.before,
        "changed": move.changed,
        "dry_run": move.dry_run,
        "forced": move.forced,
        "incompatible": _clashes(move.clashes),
    }


@router.get("/{name}/history")
def resource_history(
    name: str, svc: ServicesDep, _: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    return {"history": [resource_change_json(c) for c in svc.resources.history(name, limit)]}
