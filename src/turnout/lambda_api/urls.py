"""Function URL configs (``/2021-10-31/functions/{FunctionName}/url``) and serving function URLs.

The configs are Lambda's CreateFunctionUrlConfig, GetFunctionUrlConfig, UpdateFunctionUrlConfig,
DeleteFunctionUrlConfig and ListFunctionUrlConfigs, shaped as the botocore model has them. A URL is
``{base_url}/lambda-url/{url_id}/``: every method and path under it becomes a payload format 2.0 event
(:mod:`turnout.domain.http_event`) for the alias (or $LATEST) the config names, and the function's
answer becomes the HTTP response.

Errors of the configs are in AWS's form (the ``/2021-10-31/`` prefix). Errors while serving a URL are
``{"Message": …}`` with the status of the Turnout error (404 unknown url id, 403 AWS_IAM without a
signature, 413, 429…) and ``X-Amzn-ErrorType``; a function that fails, or answers with a malformed
response, gives 502 ``{"message": "Internal Server Error"}`` as Lambda does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from turnout.domain.http_event import EventContext, HttpRequest, HttpResponse, to_event
from turnout.domain.ids import new_request_id
from turnout.domain.names import LATEST
from turnout.errors import InvalidInput, TurnoutError
from turnout.gateway.entry import Door, InvocationEntry, http_answer
from turnout.gateway.http_request import forwarded_headers, from_asgi, read_body
from turnout.gateway.invoke import Invocation
from turnout.lambda_api import auth, deps
from turnout.lambda_api.errors import aws_type
from turnout.lambda_api.names import Arns, parse_function_name
from turnout.services import Services
from turnout.services.function_urls import ResolvedUrl
from turnout.services.tokens import Principal
from turnout.settings import Settings
from turnout.store.function_urls import FunctionUrlRecord

log = logging.getLogger(__name__)
router = APIRouter(tags=["lambda"])
CONFIG = "/2021-10-31/functions/{function_name}/url"
SERVE_PREFIX = "/lambda-url/"
SERVE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
QualifierQuery = Annotated[str | None, Query(alias="Qualifier")]


class _Shape(BaseModel):
    """Lambda request bodies: unknown fields are ignored (AWS adds fields over time)."""

    model_config = ConfigDict(extra="ignore")


class CorsBody(_Shape):
    AllowCredentials: bool | None = None
    AllowHeaders: list[str] | None = None
    AllowMethods: list[str] | None = None
    AllowOrigins: list[str] | None = None
    ExposeHeaders: list[str] | None = None
    MaxAge: int | None = None


class CreateUrlBody(_Shape):
    AuthType: str
    Cors: CorsBody | None = None
    InvokeMode: str | None = None


class UpdateUrlBody(_Shape):
    AuthType: str | None = None
    Cors: CorsBody | None = None
    InvokeMode: str | None = None


def timestamp(at: datetime) -> str:
    """Lambda's ISO-8601 times: ``2026-11-26T10:46:21.000+0000``.

    >>> timestamp(datetime(2026, 11, 26, 10, 46, 21, 123456, tzinfo=UTC))
    '2026-11-26T10:46:21.123+0000'
    """
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def url_config(settings: Settings, record: FunctionUrlRecord, modified: bool = True) -> dict[str, Any]:
    """A FunctionUrlConfig (CreateFunctionUrlConfig's answer has no LastModifiedTime)."""
    qualifier = None if record.qualifier == LATEST else record.qualifier
    found: dict[str, Any] = {
        "FunctionUrl": f"{settings.base_url}{SERVE_PREFIX}{record.url_id}/",
        "FunctionArn": Arns(settings.region, settings.account_id).function(record.function, qualifier),
        "AuthType": record.auth_type,
        "CreationTime": timestamp(record.created_at),
        "InvokeMode": record.invoke_mode,
    }
    if record.cors is not None:
        found["Cors"] = record.cors
    if modified:
        found["LastModifiedTime"] = timestamp(record.updated_at)
    return found


def _cors(body: CorsBody | None) -> dict[str, Any] | None:
    return None if body is None else body.model_dump(exclude_none=True)


# -- configs --------------------------------------------------------------------------------------------


@router.post(CONFIG, status_code=201)
def create_function_url_config(
    function_name: str, body: CreateUrlBody, request: Request, qualifier: QualifierQuery = None
) -> dict[str, Any]:
    auth.caller(request, "deploy")
    name, qualifier = parse_function_name(function_name, qualifier)
    record = deps.services(request).function_urls.create(
        name, qualifier, body.AuthType, _cors(body.Cors), body.InvokeMode
    )
    return url_config(request.app.state.settings, record, modified=False)


@router.get(CONFIG)
def get_function_url_config(
    function_name: str, request: Request, qualifier: QualifierQuery = None
) -> dict[str, Any]:
    auth.caller(request, "read")
    name, qualifier = parse_function_name(function_name, qualifier)
    return url_config(request.app.state.settings, deps.services(request).function_urls.get(name, qualifier))


@router.put(CONFIG)
def update_function_url_config(
    function_name: str, body: UpdateUrlBody, request: Request, qualifier: QualifierQuery = None
) -> dict[str, Any]:
    auth.caller(request, "deploy")
    name, qualifier = parse_function_name(function_name, qualifier)
    record = deps.services(request).function_urls.update(
        name, qualifier, body.AuthType, _cors(body.Cors), body.InvokeMode
    )
    return url_config(request.app.state.settings, record)


@router.delete(CONFIG, status_code=204)
def delete_function_url_config(
    function_name: str, request: Request, qualifier: QualifierQuery = None
) -> Response:
    auth.caller(request, "deploy")
    name, qualifier = parse_function_name(function_name, qualifier)
    deps.services(request).function_urls.delete(name, qualifier)
    return Response(status_code=204)


@router.get("/2021-10-31/functions/{function_name}/urls")
def list_function_url_configs(
    function_name: str,
    request: Request,
    marker: Annotated[str | None, Query(alias="Marker")] = None,
    max_items: Annotated[int | None, Query(alias="MaxItems")] = None,
) -> dict[str, Any]:
    auth.caller(request, "read")
    name, qualifier = parse_function_name(function_name)
    if qualifier is not None:
        raise InvalidInput("ListFunctionUrlConfigs takes an unqualified function name")
    page, next_marker = deps.services(request).function_urls.list(name, marker, max_items)
    settings: Settings = request.app.state.settings
    found: dict[str, Any] = {"FunctionUrlConfigs": [url_config(settings, r) for r in page]}
    if next_marker is not None:
        found["NextMarker"] = next_marker
    return found


# -- serving --------------------------------------------------------------------------------------------


@router.api_route("/lambda-url/{url_id}", methods=SERVE_METHODS, include_in_schema=False)
@router.api_route("/lambda-url/{url_id}/{path:path}", methods=SERVE_METHODS, include_in_schema=False)
async def serve_function_url(url_id: str, request: Request) -> Response:
    """Any request under a function URL: run the function with it as a payload format 2.0 event."""
    try:
        answer = await _serve(url_id, request)
    except TurnoutError as exc:
        if exc.status >= 500:
            log.error("function URL %s: %s: %s", url_id, exc.code, exc.message)
        error_type, status = aws_type(exc)
        headers = [("content-type", "application/json"), ("x-amzn-errortype", error_type)]
        headers += exc.headers.items()
        answer = HttpResponse(status, headers, json.dumps({"Message": exc.message}).encode())
    response = Response(b"" if request.method == "HEAD" else answer.body, answer.status)
    response.raw_headers += [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in answer.headers]
    return response


async def _serve(url_id: str, request: Request) -> HttpResponse:
    services = deps.services(request)
    settings: Settings = request.app.state.settings
    entry: InvocationEntry = request.app.state.entry
    target = services.function_urls.peek(url_id)
    if target is None:
        target = await run_in_threadpool(services.function_urls.resolve, url_id)
    http = HttpRequest(
        method=request.method,
        path=_url_path(request),
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=forwarded_headers(from_asgi(request)),
        body=b"",
        source_ip=request.client.host if request.client else "",
        protocol=f"HTTP/{request.scope.get('http_version', '1.1')}",
    )
    if target.cors is not None:  # before auth: a browser's preflight never carries credentials
        preflight = target.cors.preflight(http)
        if preflight is not None:
            return preflight
    principal, authorizer = await _authorize(request, target, settings, services)
    entry.check_declared(request.headers.get("content-length"), Door.FUNCTION_URL)
    http = replace(http, body=await read_body(request, entry.max_request_bytes))
    event_id = new_request_id()
    context = EventContext(
        api_id=url_id,
        domain_name=request.url.hostname or settings.host,
        domain_prefix=url_id,
        request_id=event_id,
        at=datetime.now(UTC),
        account_id="anonymous" if authorizer is None else settings.account_id,
        authorizer=authorizer,
    )
    payload = json.dumps(to_event(http, context)).encode()
    invocation_id, outcome = await entry.invoke(
        Invocation(target.function, target.invoke_qualifier, payload, principal),
        Door.FUNCTION_URL,
        built=True,
    )
    answer = http_answer(outcome, f"function URL {url_id}")
    answer.headers.extend(
        [
            ("x-amzn-requestid", event_id),
            ("x-turnout-request-id", invocation_id),
            ("x-turnout-version", outcome.version),
        ]
    )
    if target.cors is not None:
        answer = target.cors.apply(answer, request.headers.get("origin"))
    return answer


async def _authorize(
    request: Request, target: ResolvedUrl, settings: Settings, services: Services
) -> tuple[Principal, dict[str, Any] | None]:
    """Who calls: anyone with invoke scope for AuthType NONE; a SigV4-signed caller for AWS_IAM."""
    if target.auth_type != "AWS_IAM":
        return Principal(f"url:{target.url_id}", frozenset({"invoke"})), None
    authorization = request.headers.get("authorization")
    principal = await run_in_threadpool(auth.principal, authorization, settings.lambda_auth, services.tokens)
    principal.require("invoke")
    key = auth.access_key(authorization)
    iam = {
        "accessKey": key,
        "accountId": settings.account_id,
        "callerId": principal.name,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{settings.account_id}:user/{principal.name}",
        "userId": principal.name,
    }
    return principal, {"iam": iam}


def _url_path(request: Request) -> str:
    """The path after ``/lambda-url/{url_id}``, still percent-encoded as the client sent it."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    tail = raw.decode("latin-1").split("?", 1)[0][len(SERVE_PREFIX) :]
    return "/" + tail.partition("/")[2]
