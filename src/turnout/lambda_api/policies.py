"""Resource policies as AWS Lambda has them: AddPermission, GetPolicy and RemovePermission under
``/2015-03-31/functions/{FunctionName}/policy``.

Statements are built as AWS builds them (Principal, Action, Resource, Condition from SourceArn,
SourceAccount, PrincipalOrgID, EventSourceToken and FunctionUrlAuthType), kept per function qualifier and
echoed by GetPolicy, so tools that manage them (Terraform's ``aws_lambda_permission``) see what they
wrote. They grant nothing in Turnout: who may call what is decided by the caller's token.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from turnout.domain.names import parse_qualifier
from turnout.lambda_api.bodies import Shape
from turnout.lambda_api.deps import Deployer, Reader, arns, services
from turnout.lambda_api.names import Arns, parse_function_name

router = APIRouter(prefix="/2015-03-31/functions/{function_name}/policy", tags=["lambda"])
PolicyQualifier = Annotated[
    str | None, Query(alias="Qualifier", min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9$_-]+$")
]
SOURCE_ARN = r"^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)$"


class PermissionBody(Shape):
    StatementId: str = Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z0-9_-]+$")
    Action: str = Field(max_length=10000, pattern=r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")
    Principal: str = Field(min_length=1, max_length=2048, pattern=r"^[^\s]+$")
    SourceArn: str | None = Field(default=None, max_length=10000, pattern=SOURCE_ARN)
    SourceAccount: str | None = Field(default=None, pattern=r"^\d{12}$")
    EventSourceToken: str | None = Field(default=None, max_length=256, pattern=r"^[a-zA-Z0-9._\-]+$")
    PrincipalOrgID: str | None = Field(
        default=None, min_length=12, max_length=34, pattern=r"^o-[a-z0-9]{10,32}$"
    )
    FunctionUrlAuthType: Literal["NONE", "AWS_IAM"] | None = None
    RevisionId: str | None = None


def statement(body: PermissionBody, resource: str) -> dict[str, Any]:
    """The IAM statement AWS makes of an AddPermission request.

    >>> body = PermissionBody(StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    >>> statement(body, "arn:x")["Principal"]
    {'Service': 's3.amazonaws.com'}
    """
    found: dict[str, Any] = {
        "Sid": body.StatementId,
        "Effect": "Allow",
        "Principal": _principal(body.Principal),
        "Action": body.Action,
        "Resource": resource,
    }
    equals = {
        key: value
        for key, value in (
            ("AWS:SourceAccount", body.SourceAccount),
            ("lambda:EventSourceToken", body.EventSourceToken),
            ("aws:PrincipalOrgID", body.PrincipalOrgID),
            ("lambda:FunctionUrlAuthType", body.FunctionUrlAuthType),
        )
        if value is not None
    }
    condition: dict[str, Any] = {"StringEquals": equals} if equals else {}
    if body.SourceArn is not None:
        condition["ArnLike"] = {"AWS:SourceArn": body.SourceArn}
    if condition:
        found["Condition"] = condition
    return found


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if principal.isdigit() and len(principal) == 12:
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    return {"Service": principal}


def _target(function_name: str, qualifier: str | None) -> tuple[str, str | None]:
    name, qualifier = parse_function_name(function_name, qualifier)
    parsed = parse_qualifier(qualifier)
    return name, None if parsed.is_latest else str(parsed)


def _resource(found: Arns, name: str, qualifier: str | None) -> str:
    return found.function(name, qualifier)


@router.post("", status_code=201)
def add_permission(
    function_name: str,
    body: PermissionBody,
    request: Request,
    _caller: Deployer,
    qualifier: PolicyQualifier = None,
) -> dict[str, Any]:
    name, qualifier = _target(function_name, qualifier)
    made = statement(body, _resource(arns(request), name, qualifier))
    services(request).policies.add(name, qualifier, body.StatementId, made, body.RevisionId)
    return {"Statement": json.dumps(made)}


@router.get("")
def get_policy(
    function_name: str, request: Request, _caller: Reader, qualifier: PolicyQualifier = None
) -> dict[str, Any]:
    name, qualifier = _target(function_name, qualifier)
    policy = services(request).policies.get(name, qualifier)
    document = {"Version": "2012-10-17", "Id": "default", "Statement": policy.statements}
    return {"Policy": json.dumps(document), "RevisionId": policy.revision_id}


@router.delete("/{statement_id}", status_code=204)
def remove_permission(
    function_name: str,
    statement_id: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-zA-Z0-9._-]+$")],
    request: Request,
    _caller: Deployer,
    qualifier: PolicyQualifier = None,
    revision_id: Annotated[str | None, Query(alias="RevisionId")] = None,
) -> Response:
    name, qualifier = _target(function_name, qualifier)
    services(request).policies.remove(name, qualifier, statement_id, revision_id)
    return Response(status_code=204)
