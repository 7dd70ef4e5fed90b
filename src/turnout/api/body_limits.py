"""Bounds on the JSON bodies the API parses: size and nesting depth, checked before any handler runs.

FastAPI parses a JSON body with Python's recursive parser; a 100,000-deep array would end in
``RecursionError``. :class:`BodyLimits` (ASGI middleware) reads the body of a ``POST``/``PUT``/``PATCH``
to the native API or the Lambda API first, refuses it when it is larger than the limit
(``RequestTooLarge``, 413) or nested deeper than ``domain/json_body.py`` allows (``InvalidJson``, 400),
and hands the app the same bytes. Bodies that are not parsed as JSON here are left alone: bundle uploads
(``/v1/bundles``, their own limit), invocations (``…/invoke``, Lambda's ``…/invocations``: the
gateway checks them with the same rule) and function URLs.
"""

from __future__ import annotations

import re
from typing import Any

from turnout.api.errors import send_error
from turnout.api.hosts import GUARDED_PREFIXES
from turnout.domain.json_body import MAX_JSON_DEPTH, check_depth
from turnout.errors import RequestTooLarge, TurnoutError

RAW_BODIES = re.compile(r"^/v1/bundles/?$|/invoke$|/invocations/?$")
METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyLimits:
    """Read, bound and replay the JSON bodies of API requests (see the module's docstring)."""

    def __init__(self, app: Any, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except TurnoutError as exc:
            await send_error(send, scope["path"], exc)
            return
        await self.app(scope, _replay(body, receive), send)

    def _applies(self, scope: dict[str, Any]) -> bool:
        path = scope.get("path", "")
        return (
            scope["type"] == "http"
            and scope["method"] in METHODS
            and path.startswith(GUARDED_PREFIXES)
            and not RAW_BODIES.search(path)
        )

    async def _read(self, scope: dict[str, Any], receive: Any) -> bytes:
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        check_depth(body, self.max_depth)
        return body

    def _too_large(self) -> RequestTooLarge:
        return RequestTooLarge(f"the request body is larger than the API's limit of {self.max_bytes} bytes")


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    return replay
