"""Lambda's asynchronous invocation configs: Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s).

``/2019-09-25/functions/{FunctionName}/event-invoke-config[?Qualifier=]`` and ``…/list``: an adapter over
the same configs as ``turnout async-config``. Destinations are Lambda function ARNs (Turnout runs
functions, not queues or topics: an SQS, SNS or EventBridge destination is refused).
"""

from __future__ import annotations

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
    config = base or EventConfig(qualifier)
    if body.MaximumRetryAttempts is not None or base is None:
        config = replace(config, max_retries=body.MaximumRetryAttempts)
    if body.MaximumEventAgeInSeconds is not None or base is None:
        config = replace(config, max_age_s=body.MaximumEventAgeInSeconds)
    destinations = body.DestinationConfig
    if destinations is not None or base is None:
        on_success = destinations.OnSuccess if destinations else None
        on_failure = destinations.OnFailure if destinations else None
        if on_success is not None or base is None:
            config = replace(config, on_success=_target(on_success.Destination if on_success else None))
        if on_failure is not None or base is None:
            config = replace(config, on_failure=_target(on_failure.Destination if on_failure else None))
    return config


@router.put("")
def put_function_event_invoke_config(
    function_name: str,
    body: ConfigBody,
    request: Request,
    _caller: Deployer,
    qualifier: QualifierQuery = None,
) -> dict[str, Any]:
    name, qualifier = parse_function_name(function_name, qualifier)
    saved = services(request).event_configs.put(name, _config(qualifier or "$LATEST", body))
    return _shape(request, name, saved)


@router.post("")
def update_function_event_invoke_config(
    function_name: str,
    body: ConfigBody,
    request: Request,
    _caller: Deployer,
    qualifier: QualifierQuery = None,
) -> dict[str, Any]:
    name, qualifier = parse_function_name(function_name, qualifier)
    configs = services(request).event_configs
    try:
        base: EventConfig | None = configs.get(name, qualifier)
    except EventConfigNotFound:
        base = None
    saved = configs.put(name, _config(qualifier or "$LATEST", body, base))
    return _shape(request, name, saved)


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
