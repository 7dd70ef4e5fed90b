"""An HTTP request that becomes a function's event, however it arrived (routes and function URLs).

:class:`RawRequest` holds the parts a payload format 2.0 event needs, as the client sent them. The ASGI
doors build one from a Starlette request (:func:`from_asgi`); the native protocol (``api/protocol.py``)
builds one straight from the parser, without an ASGI scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request, cookie_parser

from turnout.domain.route_table import request_host
from turnout.errors import RequestTooLarge


@dataclass(slots=True)
class RawRequest:
    """The request line, headers and peer of one request (names lower case, values latin-1 text)."""

    method: str
    raw_path: str  # percent-encoded as sent, without the query
    query: str
    headers: list[tuple[str, str]]
    client: str  # the peer's address ("" when unknown)
    scheme: str = "http"
    http_version: str = "1.1"

    def header(self, name: str) -> str | None:
        """The first value of a header (``name`` in lower case)."""
        return next((value for key, value in self.headers if key == name), None)

    @property
    def hostname(self) -> str:
        """The Host header without its port, lower case: ``api.example.com``."""
        return request_host(self.header("host"))

    def forwarded(self) -> bool:
        """Whether a proxy says who the client is (``X-Forwarded-For`` or ``X-Forwarded-Proto``)."""
        return any(key in ("x-forwarded-for", "x-forwarded-proto") for key, _ in self.headers)

    def cookie(self, name: str) -> str | None:
        return cookie_parser(self.header("cookie") or "").get(name)


def from_asgi(request: Request) -> RawRequest:
    """The :class:`RawRequest` of an ASGI request."""
    scope = request.scope
    raw: bytes = scope.get("raw_path") or request.url.path.encode()
    return RawRequest(
        method=request.method,
        raw_path=raw.decode("latin-1").split("?", 1)[0],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        client=request.client.host if request.client else "",
        scheme=scope.get("scheme", "http"),
        http_version=scope.get("http_version", "1.1"),
    )


def forwarded_headers(request: RawRequest) -> list[tuple[str, str]]:
    """The request's headers, with the X-Forwarded-* ones API Gateway and Lambda add unless a proxy
    already did (frameworks behind Mangum read them)."""
    headers = request.headers
    names = [name for name, _ in headers]
    added = []
    if request.client and "x-forwarded-for" not in names:
        added.append(("x-forwarded-for", request.client))
    if request.scheme and "x-forwarded-proto" not in names:
        added.append(("x-forwarded-proto", request.scheme))
    if "x-forwarded-port" not in names:  # never empty: the Host header's port, else the scheme's
        added.append(("x-forwarded-port", _port(request.header("host"), request.scheme)))
    return headers + added


def _port(host: str | None, scheme: str) -> str:
    """The port a Host header names, else the scheme's.

    >>> _port("a.example:8420", "http"), _port("a.example", "https"), _port("[::1]:81", "http")
    ('8420', '443', '81')
    """
    text = (host or "").rpartition("]")[2] if (host or "").startswith("[") else host or ""
    port = text.rpartition(":")[2] if ":" in text else ""
    return port if port.isascii() and port.isdigit() else ("443" if scheme == "https" else "80")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to be larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"the request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
