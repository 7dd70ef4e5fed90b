"""Helpers for the end-to-end runtime tests: functions that report what they see, invoking, pids."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support import FLAG_CODE, deploy, publish, write_wheel

# A handler that reports its process, version marker and context, and can be told to misbehave.
# ``event["wait_for"]``: set flag ``event["started"]`` then wait (up to 20 s) until that flag is set
# (tests.support.Flag).
PROBE = """\
import os
import sys
import time

VERSION = {marker!r}


def handler(event, context):
    if event.get("started"):
        _set_flag(event["started"])
    if event.get("wait_for"):
        deadline = time.time() + 20
        while not _flag_is_set(event["wait_for"]) and time.time() < deadline:
            time.sleep(0.01)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("allocate_mb"):
        hog = bytearray(event["allocate_mb"] * 1024 * 1024)
        hog[-1] = 1
    if event.get("exit"):
        os._exit(1)
    if event.get("sigkill"):
        os.kill(os.getpid(), 9)
    return {{
        "marker": VERSION,
        "pid": os.getpid(),
        "env": dict(os.environ),
        "path": list(sys.path),
        "context": {{
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        }},
    }}
"""


def probe(marker: str = "v1") -> dict[str, str]:
    return {"app.py": PROBE.format(marker=marker) + "\n\n" + FLAG_CODE}


def invoke(
    api: httpx.Client,
    name: str,
    qualifier: str | None = None,
    event: Any = None,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = 30.0,
) -> httpx.Response:
    path = f"/v1/functions/{name}/invoke"
    params = {"qualifier": qualifier} if qualifier is not None else None
    if content is None:
        content = httpx.Request("POST", "/", json={} if event is None else event).content
    return api.post(path, params=params, content=content, headers=dict(headers or {}), timeout=timeout)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.headers, response.text)
    result: dict[str, Any] = response.json()
    return result


def function_error(response: httpx.Response, status: int = 502) -> dict[str, Any]:
    """The error body of a function failure, checked to carry its code in the header too."""
    assert response.status_code == status, (response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    assert response.headers["X-Turnout-Function-Error"] == error["code"]
    return error


def release(api: httpx.Client, name: str, files: Mapping[str, str | bytes], **config: Any) -> int:
    """Deploy ``files`` as the draft and publish it; the new version's number."""
    deploy(api, name, files, **config)
    return int(publish(api, name)["version"])


def point(api: httpx.Client, name: str, alias: str, **body: Any) -> dict[str, Any]:
    response = api.put(f"/v1/functions/{name}/aliases/{alias}", json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def token(api: httpx.Client, name: str, *scopes: str) -> str:
    response = api.post("/v1/tokens", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def write_package_wheel(folder: Path, name: str, version: str, init: str) -> Path:
    """A pure-Python wheel whose ``<name>/__init__.py`` is ``init``."""
    return write_wheel(folder, name, version, init=init)


def under(path: str, folder: Path | str) -> bool:
    return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)
