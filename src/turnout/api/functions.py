"""/v1/functions: drafts (deploy), versions (publish), diff and gc."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from turnout.api import views
from turnout.api.deps import Deployer, IfMatch, Reader, ServicesDep
from turnout.api.routes import route_json
from turnout.api.schedules import schedule_json
from turnout.api.schemas import DraftBody, GcBody, PublishBody, VersionNumber
from turnout.domain.version_number import MAX_VERSION
from turnout.services import Services
from turnout.services.functions import DraftChanges
from turnout.services.tokens import Principal

router = APIRouter(prefix="/v1/functions", tags=["functions"])


def _reveal(reveal: bool, principal: Principal, svc: Services) -> views.Reveal | None:
    """The opener of sealed secrets when an admin asks for ``?reveal=true``; None otherwise."""
    if not reveal:
        return None
    principal.require("admin")
    return svc.secrets.reveal


@router.get("")
def list_functions(
    svc: ServicesDep,
    _: Reader,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = svc.functions.list(after, limit)
    return {
        "functions": [views.function_json(f) for f in found],
        "next": found[-1].name if len(found) == limit else None,
    }


@router.put("/{name}")
def put_draft(
    name: str,
    body: DraftBody,
    response: Response,
    svc: ServicesDep,
    _: Deployer,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    changes = DraftChanges(
        bundle_sha256=body.bundle_sha256,
        handler=body.handler,
        description=body.description,
        environment=body.environment,
        timeout=body.timeout,
        memory=body.memory,
        idempotent=body.idempotent,
        requires=body.requires,
    )
    function, created = svc.functions.put_draft(name, changes, if_match or body.revision_id)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{function.revision_id}"'
    return views.function_json(function)


@router.get("/{name}")
def describe_function(
    name: str,
    response: Response,
    svc: ServicesDep,
    principal: Reader,
    reveal: bool = False,
) -> dict[str, Any]:
    show = _reveal(reveal, principal, svc)
    described = svc.functions.describe(name)
    response.headers["ETag"] = f'"{described.function.revision_id}"'
    return {
        **views.function_json(described.function, show),
        "versions": {"count": described.version_count, "latest": described.latest_version},
        "aliases": [views.alias_json(name, a, show) for a in described.aliases],
        "triggers": triggers_json(svc, name),
    }


def triggers_json(svc: Services, name: str, qualifier: str | None = None) -> dict[str, Any]:
    """The function's routes and schedules; with ``qualifier``, only those bound to it."""
    routes = [r for r in svc.routes.list(name) if qualifier is None or r.qualifier == qualifier]
    schedules = [s for s in svc.schedules.list(name) if qualifier is None or s.qualifier == qualifier]
    return {"routes": [route_json(r) for r in routes], "schedules": [schedule_json(s) for s in schedules]}


@router.delete("/{name}", status_code=204)
def delete_function(name: str, svc: ServicesDep, _: Deployer) -> None:
    svc.functions.delete(name)


@router.post("/{name}/versions")
def publish(
    name: str,
    response: Response,
    svc: ServicesDep,
    _: Deployer,
    body: PublishBody | None = None,
) -> dict[str, Any]:
    body = body or PublishBody()
    version, created = svc.versions.publish(name, body.description, body.code_sha256, body.revision_id)
    response.status_code = 201 if created else 200
    return {**views.version_json(name, version), "created": created}


@router.get("/{name}/versions")
def list_versions(
    name: str,
    svc: ServicesDep,
    _: Reader,
    after: Annotated[int | None, Query(ge=0, le=MAX_VERSION)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    found = svc.versions.list(name, after, limit)
    return {
        "versions": [views.version_json(name, v) for v in found],
        "next": found[-1].number if len(found) == limit else None,
    }


@router.get("/{name}/versions/{number}")
def get_version(
    name: str,
    number: VersionNumber,
    svc: ServicesDep,
    principal: Reader,
    reveal: bool = False,
) -> dict[str, Any]:
    shown = views.version_json(name, svc.versions.get(name, number), _reveal(reveal, principal, svc))
    return {**shown, "triggers": triggers_json(svc, name, str(number))}


@router.delete("/{name}/versions/{number}", status_code=204)
def delete_version(name: str, number: VersionNumber, svc: ServicesDep, _: Deployer) -> None:
    svc.versions.delete(name, number)


@router.get("/{name}/diff")
def diff(
    name: str,
    from_: Annotated[str, Query(alias="from")],
    svc: ServicesDep,
    _: Reader,
    to: Annotated[str, Query()] = "$LATEST",
) -> dict[str, Any]:
    return views.diff_json(name, svc.diff.diff(name, from_, to))


@router.post("/{name}/gc")
def gc(name: str, body: GcBody, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    return views.gc_json(svc.versions.gc(name, body.keep, body.dry_run, body.blob_grace_seconds))
