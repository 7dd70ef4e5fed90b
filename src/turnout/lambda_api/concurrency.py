"""Reserved concurrency as AWS Lambda has it: Put/Get/DeleteFunctionConcurrency.

``PUT``/``DELETE /2017-10-31/functions/{FunctionName}/concurrency`` and ``GET /2019-09-30/…`` (AWS
added the read two years later, under its own date). An adapter over the same setting as ``turnout
concurrency`` and ``/v1/functions/{fn}/concurrency``: the function's own limit of invocations at once,
per node (AWS counts it per account and region), 0 stopping every invocation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from turnout.errors import InvalidInput
from turnout.lambda_api.deps import Deployer, Reader, services
from turnout.lambda_api.names import parse_function_name

router = APIRouter(tags=["lambda"])
PUT_PATH = "/2017-10-31/functions/{function_name}/concurrency"
GET_PATH = "/2019-09-30/functions/{function_name}/concurrency"


class ConcurrencyBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ReservedConcurrentExecutions: int = Field(ge=0)


def _unqualified(function_name: str) -> str:
    name, qualifier = parse_function_name(function_name, None)
    if qualifier is not None:
        raise InvalidInput("concurrency is set on the function as a whole, not on a version or an alias")
    return name


def concurrency_shape(reserved: int | None) -> dict[str, Any]:
    """AWS's ``Concurrency`` structure: empty when nothing is reserved."""
    return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}


@router.put(PUT_PATH)
def put_function_concurrency(
    function_name: str, body: ConcurrencyBody, request: Request, _caller: Deployer
) -> dict[str, Any]:
    name = _unqualified(function_name)
    return concurrency_shape(services(request).provisioning.reserve(name, body.ReservedConcurrentExecutions))


@router.get(GET_PATH)
def get_function_concurrency(function_name: str, request: Request, _caller: Reader) -> dict[str, Any]:
    return concurrency_shape(services(request).provisioning.reserved(_unqualified(function_name)))


@router.delete(PUT_PATH, status_code=204)
def delete_function_concurrency(function_name: str, request: Request, _caller: Deployer) -> Response:
    services(request).provisioning.reserve(_unqualified(function_name), None)
    return Response(status_code=204)
