"""/v1/schedules (issue 6): cron and rate schedules bound to a function's qualifier."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.domain.names import split_qualified
from turnout.errors import InvalidInput
from turnout.services.schedules import NewSchedule
from turnout.store.schedules import ScheduleRecord

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])


class ScheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    expression: str = Field(description="rate(5 minutes), cron(0 12 * * ? *) or a five-field cron")
    function: str = Field(description="the function, or FUNCTION:QUALIFIER")
    qualifier: str | None = Field(None, description="alias, version or $LATEST (default $LATEST)")
    timezone: str = "UTC"
    input: Any = Field(None, description="a JSON value sent instead of the scheduled event")
    enabled: bool = True
    missed: str = Field("fire-once", description="ticks missed while no scheduler ran: fire-once or skip")
    queued: bool = Field(False, description="put each tick on the async queue (retries, dead letters)")


def schedule_json(s: ScheduleRecord) -> dict[str, Any]:
    return {
        "name": s.name,
        "function": s.function,
        "qualifier": s.qualifier,
        "expression": s.expression,
        "timezone": s.timezone,
        "input": None if s.input is None else json.loads(s.input),
        "enabled": s.enabled,
        "missed": s.missed,
        "queued": s.queued,
        "next_fire_at": None if s.next_fire_at is None else s.next_fire_at.isoformat(),
        "last_fired_at": None if s.last_fired_at is None else s.last_fired_at.isoformat(),
        "last_result": s.last_result,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
    }


@router.post("", status_code=201)
def add_schedule(body: ScheduleBody, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    function, qualifier = split_qualified(body.function)
    if qualifier is not None and body.qualifier is not None and qualifier != body.qualifier:
        raise InvalidInput("the qualifier is given twice, differently (in 'function' and 'qualifier')")
    new = NewSchedule(
        name=body.name,
        expression=body.expression,
        function=function,
        qualifier=body.qualifier if qualifier is None else qualifier,
        timezone=body.timezone,
        input=body.input,
        enabled=body.enabled,
        missed=body.missed,
        queued=body.queued,
    )
    return schedule_json(svc.schedules.add(new))


@router.get("")
def list_schedules(svc: ServicesDep, _: Reader, function: str | None = None) -> dict[str, Any]:
    return {"schedules": [schedule_json(s) for s in svc.schedules.list(function)]}


@router.get("/{name}")
def get_schedule(name: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return schedule_json(svc.schedules.get(name))


@router.delete("/{name}", status_code=204)
def delete_schedule(name: str, svc: ServicesDep, _: Deployer) -> Response:
    svc.schedules.delete(name)
    return Response(status_code=204)


@router.post("/{name}/enable")
def enable_schedule(name: str, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    return schedule_json(svc.schedules.set_enabled(name, True))


@router.post("/{name}/disable")
def disable_schedule(name: str, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    return schedule_json(svc.schedules.set_enabled(name, False))
