"""Tags as AWS Lambda has them: TagResource, UntagResource and ListTags under ``/2017-03-31/tags/{ARN}``.

Only functions are taggable (by unqualified ARN, as on AWS: a version's or an alias's ARN is refused).
Tags are kept and echoed (also in GetFunction's ``Tags``); Turnout itself never acts on them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from turnout.errors import InvalidInput
from turnout.lambda_api.bodies import Shape, TagMap
from turnout.lambda_api.deps import Deployer, Reader, services
from turnout.lambda_api.names import parse_function_arn

router = APIRouter(prefix="/2017-03-31/tags", tags=["lambda"])


class TagBody(Shape):
    Tags: TagMap


def _function(resource: str) -> str:
    name, qualifier = parse_function_arn(resource)
    if qualifier is not None:
        raise InvalidInput(
            "Tags on function aliases and versions are not supported. Please specify a function ARN."
        )
    return name


@router.get("/{resource:path}")
def list_tags(resource: str, request: Request, _caller: Reader) -> dict[str, Any]:
    return {"Tags": services(request).tags.get(_function(resource))}


@router.post("/{resource:path}", status_code=204)
def tag_resource(resource: str, body: TagBody, request: Request, _caller: Deployer) -> Response:
    services(request).tags.tag(_function(resource), body.Tags)
    return Response(status_code=204)


@router.delete("/{resource:path}", status_code=204)
def untag_resource(
    resource: str,
    request: Request,
    _caller: Deployer,
    tag_keys: Annotated[list[str], Query(alias="tagKeys", min_length=1)],
) -> Response:
    services(request).tags.untag(_function(resource), tag_keys)
    return Response(status_code=204)
