"""/v1/bundles: upload a zip once, refer to it by sha256."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from turnout.api import views
from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.errors import BundleTooLarge, InvalidBundle

router = APIRouter(prefix="/v1/bundles", tags=["bundles"])


@router.post("", status_code=201)
async def upload_bundle(request: Request, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    """Body: the zip's bytes (``Content-Type: application/zip``)."""
    limit = svc.bundles.limits.max_zipped_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BundleTooLarge(f"the bundle is {declared} bytes zipped; the limit is {limit}", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BundleTooLarge(f"the bundle is over {limit} bytes zipped", limit=limit)
        chunks.append(chunk)
    if size == 0:
        raise InvalidBundle("the request has no body: send the zip's bytes")
    manifest = await run_in_threadpool(svc.bundles.upload, b"".join(chunks))
    return views.manifest_json(manifest)


@router.get("/{sha256}")
def get_bundle(sha256: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return views.manifest_json(svc.bundles.manifest(sha256))


@router.get("/{sha256}/zip")
def download_bundle(sha256: str, svc: ServicesDep, _: Reader) -> Response:
    """The bundle's zip, as uploaded (what GetFunction's Code.Location points at)."""
    return Response(svc.bundles.read(sha256), media_type="application/zip")
