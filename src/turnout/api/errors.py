"""The one place where errors become HTTP responses: ``{"error": {"code", "message", "details"}}`` on the
native API, AWS's form (``X-Amzn-ErrorType`` and ``message``) on the Lambda-compatible paths."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from turnout.errors import TurnoutError
from turnout.lambda_api.errors import aws_error, aws_response, aws_type, is_lambda_path

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized", 413: "PayloadTooLarge"}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


async def send_error(send: Any, path: str, exc: TurnoutError) -> None:
    """Answer ``exc`` on a raw ASGI ``send`` (middleware that answers before the app), in the native
    shape or in AWS's on the Lambda paths."""
    headers = [(b"content-type", b"application/json")]
    if is_lambda_path(path):
        kind, status = aws_type(exc)
        body = json.dumps({"Type": "User", "Message": exc.message, "message": exc.message}).encode()
        headers.append((b"x-amzn-errortype", kind.encode()))
    else:
        status = exc.status
        body = json.dumps({"error": exc.to_dict()}).encode()
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TurnoutError)
    async def _turnout(request: Request, exc: TurnoutError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        if is_lambda_path(request.url.path):
            aws = aws_response(exc)
            aws.headers.update(exc.headers)
            return aws
        answer = error_response(exc.status, exc.code, exc.message, exc.details)
        answer.headers.update(exc.headers)
        return answer

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        if is_lambda_path(request.url.path):
            return aws_error(400, "ValidationException", "; ".join(problems) or "invalid request")
        return error_response(400, "InvalidParameterValue", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "HttpError")
        if is_lambda_path(request.url.path):
            kind = "ResourceNotFoundException" if exc.status_code == 404 else "InvalidRequestContentException"
            return aws_error(exc.status_code, kind, str(exc.detail))
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        if is_lambda_path(request.url.path):
            return aws_error(500, "ServiceException", f"internal error: {type(exc).__name__}")
        return error_response(500, "InternalError", f"internal error: {type(exc).__name__}")
