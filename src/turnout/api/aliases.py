"""/v1/functions/{name}/aliases: point, split, swap, roll back, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from turnout.api import views
from turnout.api.deps import Deployer, IfMatch, Reader, ServicesDep
from turnout.api.functions import triggers_json
from turnout.api.schemas import AliasBody, RollbackBody, SwapBody
from turnout.domain.routing import Routing, parse_target, routing_from_labels
from turnout.errors import InvalidInput
from turnout.services.aliases import AliasChanges

router = APIRouter(prefix="/v1/functions/{name}", tags=["aliases"])
Force = Annotated[bool, Query(description="abort a rollout that is moving the alias, then apply this change")]


def _routing(body: AliasBody) -> Routing | None:
    if body.version is not None and body.weights is not None:
        raise InvalidInput("give either 'version' or 'weights', not both")
    if body.weights is not None:
        return routing_from_labels(body.weights)
    if body.version is not None:
        return Routing.single(parse_target(body.version))
    return None


@router.get("/aliases")
def list_aliases(name: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return {"aliases": [views.alias_json(name, a) for a in svc.aliases.list(name)]}


@router.put("/aliases/{alias}")
def put_alias(
    name: str,
    alias: str,
    body: AliasBody,
    response: Response,
    svc: ServicesDep,
    principal: Deployer,
    if_match: IfMatch = None,
    force: Force = False,
) -> dict[str, Any]:
    changes = AliasChanges(
        routing=_routing(body),
        description=body.description,
        settings=body.settings,
        secret_keys=None if body.secret_keys is None else frozenset(body.secret_keys),
    )
    saved, created = svc.aliases.put(
        name, alias, changes, principal.name, body.reason, if_match or body.revision_id, force
    )
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{saved.revision_id}"'
    return views.alias_json(name, saved)


@router.get("/aliases/{alias}")
def get_alias(
    name: str,
    alias: str,
    response: Response,
    svc: ServicesDep,
    principal: Reader,
    reveal: bool = False,
) -> dict[str, Any]:
    if reveal:
        principal.require("admin")
    found = svc.aliases.get(name, alias)
    response.headers["ETag"] = f'"{found.revision_id}"'
    opener = svc.secrets.reveal if reveal else None
    return {**views.alias_json(name, found, opener), "triggers": triggers_json(svc, name, alias)}


@router.delete("/aliases/{alias}", status_code=204)
def delete_alias(
    name: str,
    alias: str,
    svc: ServicesDep,
    principal: Deployer,
    reason: str = "",
    force: Force = False,
) -> None:
    svc.aliases.delete(name, alias, principal.name, reason, force)


@router.get("/aliases/{alias}/history")
def alias_history(
    name: str,
    alias: str,
    svc: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"history": [views.change_json(c) for c in svc.aliases.history(name, alias, limit)]}


@router.post("/aliases/{alias}/rollback")
def rollback(
    name: str,
    alias: str,
    svc: ServicesDep,
    principal: Deployer,
    body: RollbackBody | None = None,
    force: Force = False,
) -> dict[str, Any]:
    body = body or RollbackBody()
    rolled = svc.aliases.rollback(name, alias, principal.name, body.to, body.reason, force)
    return views.alias_json(name, rolled)


@router.post("/swap")
def swap(
    name: str, body: SwapBody, svc: ServicesDep, principal: Deployer, force: Force = False
) -> dict[str, Any]:
    first, second = svc.aliases.swap(name, body.a, body.b, principal.name, body.reason, force)
    return {"aliases": [views.alias_json(name, first), views.alias_json(name, second)]}
