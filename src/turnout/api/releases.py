"""/v1/releases: several functions' aliases moved as one (at once, or as one rollout), and rolled back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.api.rollouts import plan_request
from turnout.api.schemas import ReleaseBody, ReleaseRollbackBody, RolloutActionBody
from turnout.domain.release import Member
from turnout.services.releases import ReleaseView

router = APIRouter(prefix="/v1/releases", tags=["releases"])


@router.post("", status_code=201)
def create_release(body: ReleaseBody, svc: ServicesDep, principal: Deployer) -> dict[str, Any]:
    members = [Member(m.function, m.alias, m.version) for m in body.members]
    request = None if body.rollout is None else plan_request(body.rollout, 1)
    view = svc.releases.create(body.name, members, principal.name, body.reason, request, body.force)
    return release_json(view)


@router.get("")
def list_releases(
    svc: ServicesDep, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    return {"releases": [release_json(v) for v in svc.releases.list(limit)]}


@router.get("/{name}")
def get_release(name: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return release_json(svc.releases.get(name))


@router.post("/{name}/rollback")
def rollback_release(
    name: str, svc: ServicesDep, principal: Deployer, body: ReleaseRollbackBody | None = None
) -> dict[str, Any]:
    given = body or ReleaseRollbackBody()
    return release_json(svc.releases.rollback(name, principal.name, given.reason, given.force))


@router.post("/{name}/pause")
def pause_release(
    name: str, svc: ServicesDep, principal: Deployer, body: RolloutActionBody | None = None
) -> dict[str, Any]:
    """Hold every member of a release rollout where it is."""
    return release_json(svc.releases.pause(name, principal.name, (body or RolloutActionBody()).reason))


@router.post("/{name}/resume")
def resume_release(name: str, svc: ServicesDep, principal: Deployer) -> dict[str, Any]:
    return release_json(svc.releases.resume(name, principal.name))


@router.post("/{name}/abort")
def abort_release(
    name: str, svc: ServicesDep, principal: Deployer, body: RolloutActionBody | None = None
) -> dict[str, Any]:
    """Every member back to its baseline, in one transaction."""
    given = body or RolloutActionBody()
    return release_json(svc.releases.abort(name, principal.name, given.reason, given.force))


def release_json(view: ReleaseView) -> dict[str, Any]:
    r = view.release
    members = []
    for m in r.members:
        member: dict[str, Any] = {
            "function": m.function,
            "alias": m.alias,
            "version": m.version,
            "before": m.before.describe(),
            "after": m.after.describe(),
            "rollout": None,
        }
        found = view.rollouts.get(m.rollout_id) if m.rollout_id is not None else None
        if found is not None:
            ro = found.rollout
            member["rollout"] = {
                "id": found.id,
                "state": ro.state.value,
                "step": ro.step,
                "steps": len(ro.strategy.steps),
                "candidate_percent": ro.serving_bp / 100,
                "reason": ro.history[-1].reason if ro.history else "waiting for the controller's first tick",
            }
        members.append(member)
    return {
        "name": r.name,
        "id": r.id,
        "state": r.state.value,
        "reason": r.reason,
        "actor": r.actor,
        "rollout": r.plan,
        "members": members,
        "history": list(r.history),
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }
