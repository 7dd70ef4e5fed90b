"""Turnout's errors in the AWS Lambda wire format, for the Lambda-compatible paths.

botocore (rest-json) reads the error type from the ``X-Amzn-ErrorType`` header and the message from the
body's ``message``/``Message``; Lambda's own answers carry both, with ``Type`` (``User``/``Service``).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from turnout.errors import (
    BundleTooLarge,
    Conflict,
    Forbidden,
    HostNotAllowed,
    Incompatible,
    InvalidInput,
    InvalidRequestContent,
    NotFound,
    PreconditionFailed,
    RequestTooLarge,
    StoreUnavailable,
    Throttled,
    TurnoutError,
    Unauthorized,
)

PREFIXES = (
    "/2015-03-31/",
    "/2016-08-19/",
    "/2017-03-31/",
    "/2017-10-31/",
    "/2019-09-25/",
    "/2019-09-30/",
    "/2020-06-30/",
    "/2021-07-20/",
    "/2021-10-31/",
    "/2024-08-31/",
)


class AwsValidation(InvalidInput):
    """A parameter breaks a constraint of the Lambda API model (a pattern, length or range): AWS's
    ``ValidationException``, where Turnout's own rules answer ``InvalidParameterValueException``."""


# (Turnout error class, AWS error type, HTTP status); the first match wins, so subclasses come first
_TABLE: tuple[tuple[type[TurnoutError], str, int], ...] = (
    (AwsValidation, "ValidationException", 400),
    (BundleTooLarge, "RequestTooLargeException", 413),
    (InvalidRequestContent, "InvalidRequestContentException", 400),
    (InvalidInput, "InvalidParameterValueException", 400),
    (Unauthorized, "UnrecognizedClientException", 403),
    (Forbidden, "AccessDeniedException", 403),
    (HostNotAllowed, "HostNotAllowedException", 421),
    (NotFound, "ResourceNotFoundException", 404),
    # a version whose [requires] excludes a shared resource's version (docs/releases.md): a conflict with
    # the state of another resource, as AWS answers a change that the function's state does not allow
    (Incompatible, "ResourceConflictException", 409),
    (Conflict, "ResourceConflictException", 409),
    (PreconditionFailed, "PreconditionFailedException", 412),
    (RequestTooLarge, "RequestTooLargeException", 413),
    (Throttled, "TooManyRequestsException", 429),
    (StoreUnavailable, "ServiceException", 503),
)


def is_lambda_path(path: str) -> bool:
    return path.startswith(PREFIXES)


def aws_type(exc: TurnoutError) -> tuple[str, int]:
    """The AWS error type and status of a Turnout error.

    >>> from turnout.errors import VersionInUse
    >>> aws_type(VersionInUse("in use"))
    ('ResourceConflictException', 409)
    """
    for cls, name, status in _TABLE:
        if isinstance(exc, cls):
            return name, status
    if exc.status < 500:
        return "InvalidParameterValueException", exc.status
    return "ServiceException", 500


def aws_error(status: int, error_type: str, message: str) -> JSONResponse:
    kind = "User" if status < 500 else "Service"
    return JSONResponse(
        {"Type": kind, "Message": message, "message": message},
        status_code=status,
        headers={"X-Amzn-ErrorType": error_type},
    )


def aws_response(exc: TurnoutError) -> JSONResponse:
    error_type, status = aws_type(exc)
    return aws_error(status, error_type, exc.message)
