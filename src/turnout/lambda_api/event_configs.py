"""Lambda's asynchronous invocation configs: Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s).

``/2019-09-25/functions/{FunctionName}/event-invoke-config[?Qualifier=]`` and ``…/list``: an adapter over
the same configs as ``turnout async-config``. Destinations are Lambda function ARNs (Turnout runs
functions, not queues or topics: an SQS, SNS or EventBridge destination is refused).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from turnout.domain.destination import MAX_AGE_S, MAX_RETRIES, MIN_AGE_S, EventConfig
from turnout.errors import EventConfigNotFound, InvalidInput
from turnout.lambda_api.deps import Deployer, QualifierQuery, Reader, arns, services
from turnout.lambda_api.names import Arns, parse_function_name

router = APIRouter(prefix="/2019-09-25/functions/{function_name}/event-invoke-config", tags=["lambda"])


class _Destination(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Destination: str | None = None


class _Destinations(BaseModel):
    model_config = ConfigDict(extra="ignore")
    OnSuccess: _Destination | None = None
    OnFailure: _Destination | None = None


class ConfigBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    MaximumRetryAttempts: int | None = Field(None, ge=0, le=MAX_RETRIES)
    MaximumEventAgeInSeconds: int | None = Field(None, ge=MIN_AGE_S, le=MAX_AGE_S)
    DestinationConfig: _Destinations | None = None


def _target(arn: str | None) -> str | None:
    """A destination ARN as a Turnout target (``fn`` or ``fn:qualifier``)."""
    if not arn:
        return None
    if arn.startswith("arn:") and ":lambda:" not in arn:
        raise InvalidInput(f"only Lambda function destinations are supported, not {arn!r}")
    name, qualifier = parse_function_name(arn)
    return f"{name}:{qualifier}" if qualifier else name


def _arn(arns: Arns, target: str | None) -> dict[str, str]:
    if target is None:
        return {}
    name, _, qualifier = target.partition(":")
    return {"Destination": arns.function(name, qualifier or None)}


def _shape(request: Request, name: str, config: EventConfig) -> dict[str, Any]:
    names = arns(request)
    found: dict[str, Any] = {
        "FunctionArn": names.function(name, config.qualifier),
        "DestinationConfig": {
            "OnSuccess": _arn(names, config.on_success),
            "OnFailure": _arn(names, config.on_failure),
        },
    }
    if config.updated_at is not None:
        found["LastModified"] = config.updated_at.timestamp()
    if config.max_retries is not None:
        found["MaximumRetryAttempts"] = config.max_retries
    if config.max_age_s is not None:
        found["MaximumEventAgeInSeconds"] = config.max_age_s
    return found


def _config(qualifier: str, body: ConfigBody, base: EventConfig | None = None) -> EventConfig:
    """``body`` as a config; with ``base`` (UpdateFunctionEventInvokeConfig) what it omits is kept."""
    replacing = base is None
    sent = set(ConfigBody.model_fields) if replacing else body.model_fields_set
    destinations = body.DestinationConfig or _Destinations()
    sent_destinations = {"OnSuccess", "OnFailure"} if replacing else destinations.model_fields_set
    changes: dict[str, Any] = {}
    if "MaximumRetryAttempts" in sent:
        changes["max_retries"] = body.MaximumRetryAttempts
    if "MaximumEventAgeInSeconds" in sent:
        changes["max_age_s"] = body.MaximumEventAgeInSeconds
    if "DestinationConfig" in sent:
        for field, key in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            if field in sent_destinations:
                chosen: _Destination | None = getattr(destinations, field)
                changes[key] = _target(chosen.Destination if chosen else None)
    return replace(base or EventConfig(qualifier), **changes)


def _save(
    request: Request, function_name: str, qualifier: str | None, body: ConfigBody, update: bool
) -> dict[str, Any]:
    name, qualifier = parse_function_name(function_name, qualifier)
    configs = services(request).event_configs
    base: EventConfig | None = None
    if update:
        with contextlib.suppress(EventConfigNotFound):
            base = configs.get(name, qualifier)
    return _shape(request, name, configs.put(name, _config(qualifier or "$LATEST", body, base)))


@router.put("")
def put_function_event_invoke_config(
    function_name: str,
    body: ConfigBody,
    request: Request,
    _caller: Deployer,
    qualifier: QualifierQuery = None,
) -> dict[str, Any]:
    """Replace the qualifier's config: what the body omits is unset."""
    return _save(request, function_name, qualifier, body, update=False)


@router.post("")
def update_function_event_invoke_config(
    function_name: str,
    body: ConfigBody,
    request: Request,
    _caller: Deployer,
    qualifier: QualifierQuery = None,
) -> dict[str, Any]:
    """Change the fields the body gives; the rest keep their values."""
    return _save(request, function_name, qualifier, body, update=True)


@router.get("")
def get_function_event_invoke_config(
    function_name: str, request: Request, _caller: Reader, qualifier: QualifierQuery = None
) -> dict[str, Any]:
    name, qualifier = parse_function_name(function_name, qualifier)
    return _shape(request, name, services(request).event_configs.get(name, qualifier))


@router.delete("", status_code=204)
def delete_function_event_invoke_config(
    function_name: str, request: Request, _caller: Deployer, qualifier: QualifierQuery = None
) -> Response:
    name, qualifier = parse_function_name(function_name, qualifier)
    services(request).event_configs.delete(name, qualifier)
    return Response(status_code=204)


@router.get("/list")
def list_function_event_invoke_configs(
    function_name: str, request: Request, _caller: Reader
) -> dict[str, Any]:
    name, _ = parse_function_name(function_name)
    configs = services(request).event_configs.list(name)
    return {"FunctionEventInvokeConfigs": [_shape(request, name, c) for c in configs]}
