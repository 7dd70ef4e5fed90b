"""Helpers for the Lambda-compatible API tests: a server, boto3 clients, zips, AWS's hash and ARN forms.

These tests drive a live `turnout serve` only the way a Lambda user would, through boto3 (and the AWS
CLI), with the botocore service model and the AWS Lambda documentation as the reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.support import RECORD_CODE, Server, make_zip

ACCOUNT = "000000000000"
REGION = "us-east-1"
ACCESS_KEY = "AKIDTEST"
SECRET_KEY = "secret"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ignored-by-turnout"

# AWS error (type, status) pairs the Lambda API tests expect
NOT_FOUND = ("ResourceNotFoundException", 404)
CONFLICT = ("ResourceConflictException", 409)
INVALID = ("InvalidParameterValueException", 400)
VALIDATION = ("ValidationException", 400)
PRECONDITION = ("PreconditionFailedException", 412)

# A handler written for Lambda: it reports what it sees, and can be told to print, fail, or send a record
# to a tests.support.Recorder (a sandboxed worker sees no file of the tests').
APP = """\
import json
import os

MARKER = {marker!r}


def handler(event, context):
    event = event or {{}}
    if event.get("spam"):
        print("x" * event["spam"])
    if event.get("print"):
        print(event["print"])
    if event.get("record_to"):
        _record(event["record_to"], {{"marker": MARKER, "version": context.function_version}})
    if event.get("fail"):
        raise ValueError(event["fail"])
    return {{
        "marker": MARKER,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": int(context.memory_limit_in_mb),
        "greeting": os.environ.get("GREETING"),
    }}
"""


def app_zip(marker: str = "v1", extra: dict[str, str] | None = None) -> bytes:
    """A deployment package for :data:`APP` (handler ``app.handler``); each marker gives other code."""
    return make_zip({"app.py": APP.format(marker=marker) + "\n\n" + RECORD_CODE, **(extra or {})})


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256: the base64 (not hex) of the package's sha256 digest."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


def function_arn(
    name: str, qualifier: str | None = None, region: str = REGION, account: str = ACCOUNT
) -> str:
    base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def start_server(tmp_path_factory: pytest.TempPathFactory, label: str, **env: str) -> Server:
    return Server(tmp_path_factory.mktemp(label) / "data", extra_env=dict(env)).start()


def lambda_client(
    url: str,
    access_key: str = ACCESS_KEY,
    region: str = REGION,
    **config: Any,
) -> Any:
    """A boto3 Lambda client pointed at Turnout: only the endpoint differs from a client for AWS.

    No retries, so an error is seen as the server sent it; ``config`` adds botocore Config options
    (``parameter_validation=False`` to send what botocore would refuse, ``signature_version=UNSIGNED``).
    """
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(retries={"max_attempts": 0}, **config),
    )


def create_function(
    client: Any, name: str, marker: str = "v1", zip_bytes: bytes | None = None, **params: Any
) -> dict[str, Any]:
    """CreateFunction with Lambda's usual parameters; ``params`` add or override."""
    request: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": zip_bytes if zip_bytes is not None else app_zip(marker)},
        **params,
    }
    response: dict[str, Any] = client.create_function(**request)
    return response


def aws_error(exc: ClientError) -> tuple[str, int]:
    """(error code, HTTP status) as botocore parsed them."""
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def status(response: dict[str, Any]) -> int:
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


def invoke(client: Any, name: str, event: Any = None, **params: Any) -> tuple[dict[str, Any], Any]:
    """Invoke and read the payload: (response, decoded JSON payload or None when empty)."""
    response: dict[str, Any] = client.invoke(
        FunctionName=name, Payload=json.dumps({} if event is None else event).encode(), **params
    )
    body = response["Payload"].read() if "Payload" in response else b""
    return response, json.loads(body) if body else None
