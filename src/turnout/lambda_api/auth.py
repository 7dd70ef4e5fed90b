"""Who is calling the Lambda-compatible API: AWS Signature Version 4 headers, read (not verified).

Clients sign with their secret key, which Turnout never has, so a signature cannot be checked. By
default (``TURNOUT_LAMBDA_AUTH=any``) any well-formed ``AWS4-HMAC-SHA256`` Authorization header is
accepted and the caller gets the ``deploy`` and ``invoke`` scopes under the name ``aws:<access key id>``
(the local-development case: SAM, Terraform or boto3 with dummy credentials). With
``TURNOUT_LAMBDA_AUTH=token`` the access key id must be a Turnout API token, and the caller gets that
token's name and scopes: ``AWS_ACCESS_KEY_ID=tt_… AWS_SECRET_ACCESS_KEY=anything``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request

from turnout.errors import InvalidInput, Unauthorized
from turnout.services.tokens import Principal, TokenService

ANY, TOKEN = "any", "token"
_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[^/\s,]+)/"
    r"(?P<service>[^/\s,]+)/aws4_request,\s*SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]{64}\s*$"
)


def check_mode(mode: str) -> str:
    if mode not in (ANY, TOKEN):
        raise InvalidInput(f"TURNOUT_LAMBDA_AUTH is 'any' or 'token', not {mode!r}")
    return mode


def access_key(authorization: str | None) -> str:
    """The access key id of a well-formed SigV4 Authorization header.

    >>> access_key("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/lambda/aws4_request, "
    ...            "SignedHeaders=host;x-amz-date, Signature=" + "ab" * 32)
    'AKIDEXAMPLE'
    """
    if not authorization:
        raise Unauthorized("the request is not signed: send AWS Signature Version 4 credentials")
    match = _SIGV4.match(authorization.strip())
    if match is None:
        raise Unauthorized("the Authorization header is not a well-formed AWS Signature Version 4 header")
    return match["key"]


def principal(authorization: str | None, mode: str, tokens: TokenService) -> Principal:
    key = access_key(authorization)
    if mode == TOKEN:
        return tokens.authenticate(key)
    return Principal(f"aws:{key}", frozenset({"deploy", "invoke"}))


def caller(request: Request, scope: str) -> Principal:
    """Who signed the request, checked to hold ``scope`` (settings and tokens from the app's state)."""
    settings = request.app.state.settings
    found = principal(
        request.headers.get("authorization"), settings.lambda_auth, request.app.state.services.tokens
    )
    found.require(scope)
    return found


def requires(scope: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the signed caller, holding ``scope``."""

    def dependency(request: Request) -> Principal:
        return caller(request, scope)

    return dependency
