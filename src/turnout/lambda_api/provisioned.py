"""Provisioned concurrency as AWS Lambda has it: Put/Get/Delete/ListProvisionedConcurrencyConfig(s)
under ``/2019-09-30/functions/{FunctionName}/provisioned-concurrency``.

An adapter over the same setting as ``turnout provision``: that many workers kept warm for an alias or
a version, per node. A config is ``READY`` as soon as it is stored (the node warms the workers right
after, and a request that comes first starts a worker as usual), so Terraform's waiter ends at once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from turnout.domain.names import parse_qualifier
from turnout.errors import InvalidInput
from turnout.lambda_api.bodies import Shape
from turnout.lambda_api.deps import Deployer, Reader, arns, services
from turnout.lambda_api.errors import aws_error
from turnout.lambda_api.names import parse_function_name

router = APIRouter(prefix="/2019-09-30/functions/{function_name}/provisioned-concurrency", tags=["lambda"])
ProvisionedQualifier = Annotated[
    str | None, Query(alias="Qualifier", min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9$_-]*$")
]
NOT_FOUND = "ProvisionedConcurrencyConfigNotFoundException"


class ProvisionedBody(Shape):
    ProvisionedConcurrentExecutions: int = Field(ge=1)


def config_shape(workers: int) -> dict[str, Any]:
    """A ProvisionedConcurrencyConfig: everything requested is available and allocated."""
    return {
        "RequestedProvisionedConcurrentExecutions": workers,
        "AvailableProvisionedConcurrentExecutions": workers,
        "AllocatedProvisionedConcurrentExecutions": workers,
        "Status": "READY",
    }


def _target(function_name: str, qualifier: str | None) -> tuple[str, str]:
    name, qualifier = parse_function_name(function_name, qualifier)
    if qualifier is None:
        raise InvalidInput("provisioned concurrency is set on an alias or a version: give a Qualifier")
    parsed = parse_qualifier(qualifier)
    if parsed.is_latest:
        raise InvalidInput(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
        )
    return name, str(parsed)


def _missing(name: str, qualifier: str) -> JSONResponse:
    return aws_error(
        404, NOT_FOUND, f"No Provisioned Concurrency Config found for this function: {name}:{qualifier}"
    )


@router.put("", status_code=202)
def put_provisioned_concurrency_config(
    function_name: str,
    body: ProvisionedBody,
    request: Request,
    _caller: Deployer,
    qualifier: ProvisionedQualifier = None,
) -> dict[str, Any]:
    name, qualifier = _target(function_name, qualifier)
    services(request).provisioning.set(name, qualifier, body.ProvisionedConcurrentExecutions)
    return config_shape(body.ProvisionedConcurrentExecutions)


@router.get("", response_model=None)
def get_provisioned_concurrency_config(
    function_name: str,
    request: Request,
    _caller: Reader,
    qualifier: ProvisionedQualifier = None,
    listing: Annotated[str | None, Query(alias="List")] = None,
) -> dict[str, Any] | JSONResponse:
    if listing is not None:
        return _list(request, function_name)
    name, qualifier = _target(function_name, qualifier)
    workers = services(request).provisioning.get(name).get(qualifier)
    return _missing(name, qualifier) if workers is None else config_shape(workers)


def _list(request: Request, function_name: str) -> dict[str, Any]:
    name, qualifier = parse_function_name(function_name)
    if qualifier is not None:
        raise InvalidInput("ListProvisionedConcurrencyConfigs takes an unqualified function name")
    found = services(request).provisioning.get(name)
    configs = [
        {"FunctionArn": arns(request).function(name, q), **config_shape(w)} for q, w in sorted(found.items())
    ]
    return {"ProvisionedConcurrencyConfigs": configs}


@router.delete("", status_code=204, response_model=None)
def delete_provisioned_concurrency_config(
    function_name: str, request: Request, _caller: Deployer, qualifier: ProvisionedQualifier = None
) -> Response:
    name, qualifier = _target(function_name, qualifier)
    provisioning = services(request).provisioning
    if qualifier not in provisioning.get(name):
        return _missing(name, qualifier)
    provisioning.set(name, qualifier, 0)
    return Response(status_code=204)
