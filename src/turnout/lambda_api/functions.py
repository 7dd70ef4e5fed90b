"""``/2015-03-31/functions``: functions, versions, aliases and Invoke, as AWS Lambda has them.

Every operation is a thin adapter over the services the native ``/v1`` API uses; AWS's narrower rules
(alias routing) are checked here, Turnout's own rules in the services.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from turnout.domain.alias import Alias
from turnout.domain.function import Function, Version
from turnout.domain.names import LATEST, parse_qualifier
from turnout.domain.routing import Routing
from turnout.domain.version_number import is_version_text
from turnout.errors import (
    AliasNotFound,
    AlreadyExists,
    FunctionNotFound,
    InvalidInput,
    PreconditionFailed,
)
from turnout.gateway.entry import Door, InvocationEntry
from turnout.gateway.invoke import Invocation
from turnout.lambda_api import deps, shapes
from turnout.lambda_api.bodies import (
    AliasBody,
    CodeBody,
    CreateFunctionBody,
    PublishBody,
    UpdateCodeBody,
    UpdateConfigurationBody,
)
from turnout.lambda_api.concurrency import concurrency_shape
from turnout.lambda_api.deps import Deployer, Invoker, QualifierQuery, Reader
from turnout.lambda_api.names import parse_function_name
from turnout.runtime.supervisor import Outcome
from turnout.services.aliases import AliasChanges
from turnout.services.functions import DraftChanges
from turnout.services.tags import check_tags
from turnout.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/2015-03-31/functions", tags=["lambda"])
LOG_TAIL_BYTES = 4096
LAMBDA_TIMEOUT, LAMBDA_MEMORY = 3, 128  # CreateFunction's defaults are Lambda's, not Turnout's (30 s, 256 MB)
PAGE = 50


def _zip(data: str | None, code: CodeBody | UpdateCodeBody) -> bytes:
    if getattr(code, "S3Bucket", None) or getattr(code, "ImageUri", None):
        raise InvalidInput("Turnout takes code as ZipFile only (no S3 locations or container images)")
    if not data:
        raise InvalidInput("the code is missing: send it as ZipFile")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("ZipFile is not base64") from exc


def _no_layers(layers: list[str] | None) -> None:
    if layers:
        raise InvalidInput("Turnout has no Lambda layers: put dependencies in the bundle's requirements.txt")


def _x86_64_only(architectures: Sequence[str] | None) -> None:
    if architectures is not None and list(architectures) != ["x86_64"]:
        raise InvalidInput("functions run on the server's own x86_64 Python: Architectures is x86_64")


def _draft_json(request: Request, function: Function) -> dict[str, Any]:
    svc = deps.services(request)
    size = svc.bundles.manifest(function.bundle_sha256).zipped_bytes
    return shapes.configuration(
        deps.arns(request),
        function.name,
        LATEST,
        function.config,
        function.bundle_sha256,
        size,
        function.revision_id,
        function.updated_at,
    )


def _version_json(
    request: Request, name: str, version: Version, qualifier: str | None = None
) -> dict[str, Any]:
    svc = deps.services(request)
    size = svc.bundles.manifest(version.bundle_sha256).zipped_bytes
    return shapes.configuration(
        deps.arns(request),
        name,
        str(version.number),
        version.config,
        version.bundle_sha256,
        size,
        version.revision_id,
        version.created_at,
        description=version.description,
        qualifier=qualifier,
    )


def _configuration(request: Request, name: str, qualifier: str | None) -> dict[str, Any]:
    """The configuration of ``$LATEST``, a version, or the version an alias points at (mostly)."""
    svc = deps.services(request)
    parsed = parse_qualifier(qualifier)
    if parsed.is_latest:
        return _draft_json(request, svc.functions.get(name))
    if parsed.version is not None:
        return _version_json(request, name, svc.versions.get(name, parsed.version))
    alias = svc.aliases.get(name, parsed.alias or "")
    primary = shapes.alias_configuration(deps.arns(request), name, alias)["FunctionVersion"]
    if primary == LATEST:
        found = _draft_json(request, svc.functions.get(name))
        found["FunctionArn"] = deps.arns(request).function(name, alias.name)
        return found
    return _version_json(request, name, svc.versions.get(name, int(primary)), qualifier=alias.name)


# -- functions -----------------------------------------------------------------------------------------


@router.post("", status_code=201)
def create_function(body: CreateFunctionBody, request: Request, _caller: Deployer) -> dict[str, Any]:
    svc = deps.services(request)
    name, qualifier = parse_function_name(body.FunctionName)
    if qualifier is not None:
        raise InvalidInput("CreateFunction takes an unqualified function name")
    if body.PackageType not in (None, "Zip"):
        raise InvalidInput("Turnout runs zip packages only (PackageType Zip)")
    _no_layers(body.Layers)
    _x86_64_only(body.Architectures)
    if body.Handler is None:
        raise InvalidInput("Handler is required, e.g. app.handler")
    try:
        svc.functions.get(name)
    except FunctionNotFound:
        pass
    else:
        raise AlreadyExists(f"Function already exist: {name}")
    manifest = svc.bundles.upload(_zip(body.Code.ZipFile, body.Code))
    changes = DraftChanges(
        bundle_sha256=manifest.sha256,
        handler=body.Handler,
        description=body.Description,
        environment=None if body.Environment is None else body.Environment.Variables,
        timeout=LAMBDA_TIMEOUT if body.Timeout is None else body.Timeout,
        memory=LAMBDA_MEMORY if body.MemorySize is None else body.MemorySize,
        runtime=body.Runtime,
    )
    check_tags(body.Tags or {})
    function, _ = svc.functions.put_draft(name, changes)
    if body.Tags:
        svc.tags.tag(name, body.Tags)
    if body.Publish:
        version, _ = svc.versions.publish(name)
        return _version_json(request, name, version)
    return _draft_json(request, function)


@router.get("")
@router.get("/", include_in_schema=False)  # older clients send the trailing slash
def list_functions(
    request: Request,
    _caller: Reader,
    marker: Annotated[str | None, Query(alias="Marker")] = None,
    max_items: Annotated[int, Query(alias="MaxItems", ge=1, le=10000)] = PAGE,
    function_version: Annotated[str | None, Query(alias="FunctionVersion")] = None,
) -> dict[str, Any]:
    svc = deps.services(request)
    if function_version not in (None, "ALL"):
        raise InvalidInput("FunctionVersion is ALL or left out")
    found = svc.functions.list(after=marker, limit=max_items + 1)
    page, more = found[:max_items], len(found) > max_items
    listed: list[dict[str, Any]] = []
    for function in page:
        listed.append(_draft_json(request, function))
        if function_version == "ALL":
            listed += [_version_json(request, function.name, v) for v in svc.versions.list(function.name)]
    return {"Functions": listed, **({"NextMarker": page[-1].name} if more else {})}


@router.get("/{function_name}")
def get_function(
    function_name: str, request: Request, _caller: Reader, qualifier: QualifierQuery = None
) -> dict[str, Any]:
    name, qualifier = parse_function_name(function_name, qualifier)
    configuration = _configuration(request, name, qualifier)
    settings: Settings = request.app.state.settings
    sha = shapes.hex_sha256(configuration["CodeSha256"])
    found: dict[str, Any] = {
        "Configuration": configuration,
        "Code": {"RepositoryType": "S3", "Location": f"{settings.base_url}/v1/bundles/{sha}/zip"},
        "Tags": deps.services(request).tags.get(name),
    }
    reserved = deps.services(request).provisioning.reserved(name)
    if reserved is not None:
        found["Concurrency"] = concurrency_shape(reserved)
    return found


@router.get("/{function_name}/configuration")
def get_function_configuration(
    function_name: str, request: Request, _caller: Reader, qualifier: QualifierQuery = None
) -> dict[str, Any]:
    name, qualifier = parse_function_name(function_name, qualifier)
    return _configuration(request, name, qualifier)


@router.delete("/{function_name}", status_code=204)
def delete_function(
    function_name: str, request: Request, _caller: Deployer, qualifier: QualifierQuery = None
) -> Response:
    svc = deps.services(request)
    name, qualifier = parse_function_name(function_name, qualifier)
    parsed = parse_qualifier(qualifier)
    if parsed.alias is not None:
        raise InvalidInput("DeleteFunction's Qualifier is a version number; delete aliases with DeleteAlias")
    if qualifier == LATEST:
        raise InvalidInput("$LATEST version cannot be deleted without deleting the function.")
    if parsed.version is not None:
        svc.versions.delete(name, parsed.version)
    else:
        svc.functions.delete(name)
    return Response(status_code=204)


@router.put("/{function_name}/code")
def update_function_code(
    function_name: str, body: UpdateCodeBody, request: Request, _caller: Deployer
) -> dict[str, Any]:
    svc = deps.services(request)
    name, qualifier = _unqualified(function_name)
    current = svc.functions.get(name)
    _check_revision(current, body.RevisionId)
    _x86_64_only(body.Architectures)
    data = _zip(body.ZipFile, body)
    if body.DryRun:
        return _draft_json(request, current)
    manifest = svc.bundles.upload(data)
    function, _ = svc.functions.put_draft(name, DraftChanges(bundle_sha256=manifest.sha256), body.RevisionId)
    if body.Publish:
        version, _ = svc.versions.publish(name)
        return _version_json(request, name, version)
    return _draft_json(request, function)


@router.put("/{function_name}/configuration")
def update_function_configuration(
    function_name: str, body: UpdateConfigurationBody, request: Request, _caller: Deployer
) -> dict[str, Any]:
    svc = deps.services(request)
    name, _ = _unqualified(function_name)
    _no_layers(body.Layers)
    current = svc.functions.get(name)
    _check_revision(current, body.RevisionId)
    environment = None
    if body.Environment is not None:
        environment = shapes.environment_update(body.Environment.Variables, current.config.environment)
    changes = DraftChanges(
        handler=body.Handler,
        description=body.Description,
        environment=environment,
        timeout=body.Timeout,
        memory=body.MemorySize,
        runtime=body.Runtime,
    )
    function, _ = svc.functions.put_draft(name, changes, body.RevisionId)
    return _draft_json(request, function)


def _unqualified(function_name: str) -> tuple[str, None]:
    name, qualifier = parse_function_name(function_name)
    if qualifier is not None and qualifier != LATEST:
        raise InvalidInput("only the unpublished function ($LATEST) can be updated; versions are immutable")
    return name, None


def _check_revision(function: Function, revision_id: str | None) -> None:
    if revision_id is not None and revision_id != function.revision_id:
        raise PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        )


# -- versions ------------------------------------------------------------------------------------------


@router.post("/{function_name}/versions", status_code=201)
def publish_version(
    function_name: str, request: Request, _caller: Deployer, body: PublishBody | None = None
) -> dict[str, Any]:
    svc = deps.services(request)
    body = body or PublishBody()
    name, _ = _unqualified(function_name)
    current = svc.functions.get(name)
    _check_revision(current, body.RevisionId)
    if body.CodeSha256 is not None and shapes.hex_sha256(body.CodeSha256) != current.bundle_sha256:
        raise InvalidInput(
            f"CodeSha256 ({body.CodeSha256}) is different from current CodeSha256 in $LATEST "
            f"({shapes.code_sha256(current.bundle_sha256)}). Please try again with the CodeSha256 in $LATEST."
        )
    version, _ = svc.versions.publish(name, body.Description, None, body.RevisionId)
    return _version_json(request, name, version)


@router.get("/{function_name}/versions")
def list_versions(
    function_name: str,
    request: Request,
    _caller: Reader,
    marker: Annotated[str | None, Query(alias="Marker")] = None,
    max_items: Annotated[int, Query(alias="MaxItems", ge=1, le=10000)] = PAGE,
) -> dict[str, Any]:
    svc = deps.services(request)
    name, _ = _unqualified(function_name)
    entries: list[dict[str, Any]] = []
    if marker is None:
        entries.append(_draft_json(request, svc.functions.get(name)))
    elif marker != "0" and not is_version_text(marker):
        raise InvalidInput(f"Marker {marker!r} did not come from this API")
    after = None if marker is None else int(marker)
    versions = svc.versions.list(name, after=after, limit=max_items + 1)
    entries += [_version_json(request, name, v) for v in versions]
    page, more = entries[:max_items], len(entries) > max_items
    if not page:  # a marker past the newest version
        return {"Versions": []}
    last = page[-1]["Version"]
    next_marker = {"NextMarker": "0" if last == LATEST else last} if more else {}  # "0": after $LATEST
    return {"Versions": page, **next_marker}


# -- aliases -------------------------------------------------------------------------------------------


def _alias_json(request: Request, name: str, alias: Alias) -> dict[str, Any]:
    return shapes.alias_configuration(deps.arns(request), name, alias)


@router.post("/{function_name}/aliases", status_code=201)
def create_alias(
    function_name: str, body: AliasBody, request: Request, principal: Deployer
) -> dict[str, Any]:
    svc = deps.services(request)
    name, _ = _unqualified(function_name)
    if not body.Name or body.FunctionVersion is None:
        raise InvalidInput("CreateAlias needs Name and FunctionVersion")
    try:
        svc.aliases.get(name, body.Name)
    except AliasNotFound:
        pass
    else:
        raise AlreadyExists(f"Alias already exists: {deps.arns(request).function(name, body.Name)}")
    routing = shapes.alias_routing(body.FunctionVersion, body.RoutingConfig)
    changes = AliasChanges(routing=routing, description=body.Description or "")
    alias, _ = svc.aliases.put(name, body.Name, changes, principal.name, "CreateAlias")
    return _alias_json(request, name, alias)


@router.get("/{function_name}/aliases")
def list_aliases(
    function_name: str,
    request: Request,
    _caller: Reader,
    function_version: Annotated[str | None, Query(alias="FunctionVersion")] = None,
    marker: Annotated[str | None, Query(alias="Marker")] = None,
    max_items: Annotated[int, Query(alias="MaxItems", ge=1, le=10000)] = PAGE,
) -> dict[str, Any]:
    svc = deps.services(request)
    name, _ = _unqualified(function_name)
    shown = [_alias_json(request, name, a) for a in sorted(svc.aliases.list(name), key=lambda a: a.name)]
    if function_version is not None:
        shown = [
            a
            for a in shown
            if a["FunctionVersion"] == function_version
            or function_version in a.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
        ]
    if marker is not None:
        shown = [a for a in shown if a["Name"] > marker]
    page, more = shown[:max_items], len(shown) > max_items
    return {"Aliases": page, **({"NextMarker": page[-1]["Name"]} if more else {})}


@router.get("/{function_name}/aliases/{alias_name}")
def get_alias(function_name: str, alias_name: str, request: Request, _caller: Reader) -> dict[str, Any]:
    name, _ = _unqualified(function_name)
    return _alias_json(request, name, deps.services(request).aliases.get(name, alias_name))


@router.put("/{function_name}/aliases/{alias_name}")
def update_alias(
    function_name: str, alias_name: str, body: AliasBody, request: Request, principal: Deployer
) -> dict[str, Any]:
    svc = deps.services(request)
    name, _ = _unqualified(function_name)
    current = svc.aliases.get(name, alias_name)
    routing: Routing | None = None
    if body.FunctionVersion is not None or body.RoutingConfig is not None:
        shown = _alias_json(request, name, current)
        version = body.FunctionVersion or shown["FunctionVersion"]
        config = body.RoutingConfig if body.RoutingConfig is not None else shown.get("RoutingConfig")
        routing = shapes.alias_routing(version, config)
    changes = AliasChanges(routing=routing, description=body.Description)
    alias, _ = svc.aliases.put(name, alias_name, changes, principal.name, "UpdateAlias", body.RevisionId)
    return _alias_json(request, name, alias)


@router.delete("/{function_name}/aliases/{alias_name}", status_code=204)
def delete_alias(function_name: str, alias_name: str, request: Request, principal: Deployer) -> Response:
    name, _ = _unqualified(function_name)
    deps.services(request).aliases.delete(name, alias_name, principal.name, "DeleteAlias")
    return Response(status_code=204)


# -- invoke --------------------------------------------------------------------------------------------


@router.post("/{function_name}/invocations")
async def invoke(
    function_name: str,
    request: Request,
    principal: Invoker,
    qualifier: QualifierQuery = None,
    invocation_type: Annotated[str, Header(alias="X-Amz-Invocation-Type")] = "RequestResponse",
    log_type: Annotated[str, Header(alias="X-Amz-Log-Type")] = "None",
) -> Response:
    name, qualifier = parse_function_name(function_name, qualifier)
    entry: InvocationEntry = request.app.state.entry
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        raise InvalidInput("InvocationType is RequestResponse, Event or DryRun")
    entry.check_declared(request.headers.get("content-length"), Door.LAMBDA)
    payload = await request.body()
    call = Invocation(name, None if qualifier == LATEST else qualifier, payload, principal)
    if invocation_type == "DryRun":
        await entry.resolve(call)
        return Response(status_code=204)
    if invocation_type == "Event":  # onto the durable queue (retries, dead letters: gateway/dispatcher.py)
        request_id = await entry.enqueue(call, Door.LAMBDA)
        return Response(status_code=202, headers={"X-Amzn-RequestId": request_id})
    request_id, outcome = await entry.invoke(call, Door.LAMBDA)
    headers = {"X-Amz-Executed-Version": outcome.version, "X-Amzn-RequestId": request_id}
    if log_type == "Tail":
        headers["X-Amz-Log-Result"] = _log_tail(request_id, outcome)
    if outcome.error is None:
        return Response(outcome.payload or b"null", 200, headers, media_type="application/json")
    headers["X-Amz-Function-Error"] = "Unhandled"
    return JSONResponse(_error_payload(request_id, outcome), 200, headers)


def _error_payload(request_id: str, outcome: Outcome) -> dict[str, Any]:
    """Lambda's error payload: errorMessage, errorType, requestId and the stack trace lines."""
    error = outcome.error or {}
    trace = [str(line) for line in error.get("trace") or []]  # traceback.format_list lines
    return {
        "errorMessage": str(error.get("message", "")),
        "errorType": str(error.get("type", "Error")),
        "requestId": request_id,
        "stackTrace": trace,
    }


def _log_tail(request_id: str, outcome: Outcome) -> str:
    """The last 4 KB of the invocation's log, as Lambda's LogType=Tail gives it (base64)."""
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {outcome.duration_ms:.2f} ms"
        + (f"\tInit Duration: {outcome.init_ms:.2f} ms" if outcome.cold else "")
        + "\n"
    )
    start = f"START RequestId: {request_id} Version: {outcome.version}\n"
    text = f"{start}{outcome.logs}END RequestId: {request_id}\n{report}"
    return base64.b64encode(text.encode()[-LOG_TAIL_BYTES:]).decode()
