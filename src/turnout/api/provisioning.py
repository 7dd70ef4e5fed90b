"""/v1/functions/{name}/provisioned and /workers: warm workers kept, and what runs on this node."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from turnout.api.deps import Deployer, Reader, ServicesDep

router = APIRouter(prefix="/v1/functions/{name}", tags=["provisioned concurrency"])


class ProvisionedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workers: int = Field(ge=0, description="warm workers to keep; 0 removes the setting")


@router.get("/provisioned")
def list_provisioned(name: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return {"function": name, "provisioned": svc.provisioning.get(name)}


@router.put("/provisioned/{qualifier}")
def set_provisioned(
    name: str, qualifier: str, body: ProvisionedBody, svc: ServicesDep, _: Deployer
) -> dict[str, Any]:
    """Keep workers warm for an alias (spread over its versions by weight) or a version."""
    return {"function": name, "provisioned": svc.provisioning.set(name, qualifier, body.workers)}


@router.delete("/provisioned/{qualifier}")
def remove_provisioned(name: str, qualifier: str, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    return {"function": name, "provisioned": svc.provisioning.set(name, qualifier, 0)}


@router.get("/workers")
def workers(name: str, request: Request, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    """The function's worker pools on this node (versions, idle and busy workers, pids)."""
    svc.functions.get(name)  # 404 for an unknown function
    return {"function": name, "pools": request.app.state.gateway.supervisor.describe(name)}
