"""/v1/functions/{name}/async-config: where a qualifier's async invocations go when done, and their
retry limits (Lambda's EventInvokeConfig)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.domain.destination import MAX_AGE_S, MAX_RETRIES, MIN_AGE_S, EventConfig

router = APIRouter(prefix="/v1/functions/{name}/async-config", tags=["async invocations"])


class EventConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_success: str | None = Field(None, description="`fn` or `fn:qualifier`: gets a record of each success")
    on_failure: str | None = Field(
        None, description="`fn` or `fn:qualifier`: gets a record of each event that failed for good"
    )
    max_retries: int | None = Field(None, ge=0, le=MAX_RETRIES, description="retries after a failure")
    max_age_s: int | None = Field(None, ge=MIN_AGE_S, le=MAX_AGE_S, description="oldest event still tried")


def config_json(name: str, config: EventConfig) -> dict[str, Any]:
    return {
        "function": name,
        "qualifier": config.qualifier,
        "on_success": config.on_success,
        "on_failure": config.on_failure,
        "max_retries": config.max_retries,
        "max_age_s": config.max_age_s,
    }


@router.get("")
def list_configs(name: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return {"function": name, "configs": [config_json(name, c) for c in svc.event_configs.list(name)]}


@router.get("/{qualifier}")
def get_config(name: str, qualifier: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return config_json(name, svc.event_configs.get(name, qualifier))


@router.put("/{qualifier}")
def put_config(
    name: str, qualifier: str, body: EventConfigBody, svc: ServicesDep, _: Deployer
) -> dict[str, Any]:
    """Set the qualifier's async config, replacing any (omitted fields are unset: server defaults)."""
    config = EventConfig(qualifier, body.on_success, body.on_failure, body.max_retries, body.max_age_s)
    return config_json(name, svc.event_configs.put(name, config))


@router.delete("/{qualifier}", status_code=204)
def delete_config(name: str, qualifier: str, svc: ServicesDep, _: Deployer) -> Response:
    svc.event_configs.delete(name, qualifier)
    return Response(status_code=204)
