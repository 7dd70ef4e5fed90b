"""Reading an HTTP request that becomes a function's event (function URLs and routes share this)."""

from __future__ import annotations

from starlette.requests import Request

from turnout.errors import RequestTooLarge


def forwarded_headers(request: Request) -> list[tuple[str, str]]:
    """The request's headers, with the X-Forwarded-* ones API Gateway and Lambda add unless a proxy
    already did (frameworks behind Mangum read them)."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
    present = {name.lower() for name, _ in headers}
    scheme = request.url.scheme
    added = {
        "x-forwarded-for": request.client.host if request.client else "",
        "x-forwarded-proto": scheme,
        "x-forwarded-port": str(request.url.port or (443 if scheme == "https" else 80)),
    }
    return headers + [(k, v) for k, v in added.items() if k not in present and v]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to be larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"the request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
