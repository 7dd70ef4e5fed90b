"""What AWS Lambda answers about features Turnout does not have, so tools that read them work.

- Code signing (``/2020-06-30/…/code-signing-config``): no function has a code signing config; reading
  answers an empty ARN as AWS does for such a function, deleting is a no-op, setting one is refused.
- Runtime management (``/2021-07-20/…/runtime-management-config``): ``Auto`` (every function runs on
  the server's Python); setting ``Auto`` is accepted, any other mode refused.
- Recursion (``/2024-08-31/…/recursion-config``): Turnout does not detect recursive loops, so it answers
  ``Allow``; setting ``Allow`` is accepted, ``Terminate`` refused.
- Account settings (``/2016-08-19/account-settings``): the server's limits and usage.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response

from turnout.domain.names import parse_qualifier
from turnout.errors import InvalidInput
from turnout.lambda_api.bodies import Shape
from turnout.lambda_api.deps import Deployer, QualifierQuery, Reader, arns, services
from turnout.lambda_api.names import parse_function_name
from turnout.settings import Settings

router = APIRouter(tags=["lambda"])
CODE_SIGNING = "/2020-06-30/functions/{function_name}/code-signing-config"
RUNTIME = "/2021-07-20/functions/{function_name}/runtime-management-config"
RECURSION = "/2024-08-31/functions/{function_name}/recursion-config"
PAGE = 1000


class RuntimeManagementBody(Shape):
    UpdateRuntimeOn: Literal["Auto", "Manual", "FunctionUpdate"]


class RecursionBody(Shape):
    RecursiveLoop: Literal["Allow", "Terminate"]


def _existing(request: Request, function_name: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """The function's name (it must exist) and the qualifier, None for $LATEST."""
    name, qualifier = parse_function_name(function_name, qualifier)
    services(request).functions.get(name)
    parsed = parse_qualifier(qualifier)
    return name, None if parsed.is_latest else str(parsed)


@router.get(CODE_SIGNING)
def get_function_code_signing_config(function_name: str, request: Request, _caller: Reader) -> dict[str, Any]:
    name, _ = _existing(request, function_name)
    return {"CodeSigningConfigArn": "", "FunctionName": name}


@router.put(CODE_SIGNING)
def put_function_code_signing_config(function_name: str, request: Request, _caller: Deployer) -> None:
    _existing(request, function_name)
    raise InvalidInput("Turnout has no code signing: functions cannot have a code signing config")


@router.delete(CODE_SIGNING, status_code=204)
def delete_function_code_signing_config(function_name: str, request: Request, _caller: Deployer) -> Response:
    _existing(request, function_name)
    return Response(status_code=204)


@router.get(RUNTIME)
def get_runtime_management_config(
    function_name: str, request: Request, _caller: Reader, qualifier: QualifierQuery = None
) -> dict[str, Any]:
    name, qualifier = _existing(request, function_name, qualifier)
    return {"UpdateRuntimeOn": "Auto", "FunctionArn": arns(request).function(name, qualifier)}


@router.put(RUNTIME)
def put_runtime_management_config(
    function_name: str,
    body: RuntimeManagementBody,
    request: Request,
    _caller: Deployer,
    qualifier: QualifierQuery = None,
) -> dict[str, Any]:
    name, qualifier = _existing(request, function_name, qualifier)
    if body.UpdateRuntimeOn != "Auto":
        raise InvalidInput("every function runs on the server's Python: UpdateRuntimeOn is Auto")
    return {"UpdateRuntimeOn": "Auto", "FunctionArn": arns(request).function(name, qualifier)}


@router.get(RECURSION)
def get_function_recursion_config(function_name: str, request: Request, _caller: Reader) -> dict[str, Any]:
    _existing(request, function_name)
    return {"RecursiveLoop": "Allow"}


@router.put(RECURSION)
def put_function_recursion_config(
    function_name: str, body: RecursionBody, request: Request, _caller: Deployer
) -> dict[str, Any]:
    _existing(request, function_name)
    if body.RecursiveLoop != "Allow":
        raise InvalidInput("Turnout does not detect recursive loops: RecursiveLoop is Allow")
    return {"RecursiveLoop": "Allow"}


@router.get("/2016-08-19/account-settings")
@router.get("/2016-08-19/account-settings/", include_in_schema=False)
def get_account_settings(request: Request, _caller: Reader) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    count = _function_count(request)
    return {
        "AccountLimit": {
            "TotalCodeSize": 0,
            "CodeSizeUnzipped": settings.bundle_max_unpacked_bytes,
            "CodeSizeZipped": settings.bundle_max_zipped_bytes,
            "ConcurrentExecutions": settings.function_concurrency,
            "UnreservedConcurrentExecutions": settings.function_concurrency,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": count},
    }


def _function_count(request: Request) -> int:
    functions, count, after = services(request).functions, 0, None
    while page := functions.list(after, PAGE):
        count, after = count + len(page), page[-1].name
    return count
