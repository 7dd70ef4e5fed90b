"""/v1/functions/{name}/provisioned, /concurrency and /workers: warm workers kept, the function's own
concurrency limit, and what runs on this node."""

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


class ConcurrencyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reserved: int = Field(
        ge=0, le=10_000, description="concurrent invocations of this function per node; 0 stops them"
    )


@router.get("/concurrency")
def get_concurrency(name: str, request: Request, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    """The function's reserved concurrency (null: the server-wide limit, shown as ``limit``)."""
    reserved = svc.provisioning.reserved(name)
    default = request.app.state.gateway.supervisor.settings.concurrency
    return {"function": name, "reserved": reserved, "limit": default if reserved is None else reserved}


@router.put("/concurrency")
def set_concurrency(
    name: str, body: ConcurrencyBody, request: Request, svc: ServicesDep, _: Deployer
) -> dict[str, Any]:
    """Reserve concurrency: at most ``reserved`` invocations of the function at once on each node
    (beyond that 429 Throttled); 0 stops every invocation until it is raised or cleared."""
    svc.provisioning.reserve(name, body.reserved)
    return get_concurrency(name, request, svc, _)


@router.delete("/concurrency")
def clear_concurrency(name: str, request: Request, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    """Back to the server-wide limit (TURNOUT_FUNCTION_CONCURRENCY)."""
    svc.provisioning.reserve(name, None)
    return get_concurrency(name, request, svc, _)


@router.get("/workers")
def workers(name: str, request: Request, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    """The function's worker pools on this node (versions, idle and busy workers, pids, and each version's
    queue: requests waiting now, p50/p99 of recent waits in ms, requests throttled by it)."""
    svc.functions.get(name)  # 404 for an unknown function
    return {"function": name, "pools": request.app.state.gateway.supervisor.describe(name)}
