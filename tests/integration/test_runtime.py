"""Running functions end to end: the handler contract, errors, limits, crashes, throttling, scale to zero.

Real `turnout serve` processes with real zygote, template and worker processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.runtime_support import function_error, invoke, ok, point, probe, release
from tests.support import (
    HELLO,
    Flag,
    Server,
    alive,
    deploy,
    error_code,
    gone,
    in_background,
    publish,
    unique,
    wait_for,
)

pytestmark = pytest.mark.integration

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"

# One bundle, several handlers: each test deploys it with the handler it needs.
MISC = """\
import asyncio
import os


def check(order):
    if order["qty"] < 0:
        raise ValueError(f"bad quantity {order['qty']}")


def fails(event, context):
    check(event)
    return {}


async def fails_async(event, context):
    await asyncio.sleep(0)
    check(event)
    return {}


def unserialisable(event, context):
    return {"items": {1, 2}}


async def greet(event, context):
    await asyncio.sleep(0.01)
    return {
        "hello": event["name"],
        "request_id": context.aws_request_id,
        "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""
RAISE_LINE = 7  # `raise ValueError(...)` in MISC
CHECK_CALL_LINE = 11  # `check(event)` in fails()


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with small limits: 2 KiB payloads, 2 concurrent invocations and no queue for a third,
    workers idle for 1 s."""
    running = Server(
        tmp_path_factory.mktemp("tight") / "data",
        extra_env={
            "TURNOUT_INVOKE_MAX_REQUEST_BYTES": "2048",
            "TURNOUT_FUNCTION_CONCURRENCY": "2",
            "TURNOUT_QUEUE_LENGTH": "0",
            "TURNOUT_WORKER_IDLE_SECONDS": "1",
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture
def tight_api(tight: Server) -> Iterator[httpx.Client]:
    with tight.client() as client:
        yield client


def hold(server: Server, name: str, qualifier: str | None, started: Flag, gate: Flag) -> Callable[[], Any]:
    """Start an invocation that waits for ``gate`` to exist, and wait until it is running."""

    def call() -> httpx.Response:
        with server.client() as client:
            return invoke(client, name, qualifier, {"started": str(started), "wait_for": str(gate)})

    join = in_background(call)
    wait_for(started.exists, timeout=20, what=f"invocation of {name} to start")
    return join


# ---------------------------------------------------------------------------------------------- contract


def test_context_environment_and_alias_settings(api: httpx.Client) -> None:
    name = unique("ctx")
    release(api, name, probe(), memory=256, timeout=7, environment={"COLOR": "blue", "TIER": "free"})
    point(api, name, "prod", version=1, settings={"TIER": "gold"})
    point(api, name, "beta", version=1, settings={"TIER": "silver", "EXTRA": "yes"})

    response = invoke(api, name, "prod", {"x": 1})
    body = ok(response)
    context, env = body["context"], body["env"]
    assert response.headers["X-Turnout-Version"] == "1"
    assert context["function_name"] == name
    assert context["function_version"] == "1"
    assert context["invoked_function_arn"] == f"{ARN}{name}:prod"
    assert context["memory_limit_in_mb"] == 256
    assert context["aws_request_id"] == response.headers["X-Turnout-Request-Id"]
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert context["log_stream_name"] and context["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < context["remaining_ms"] <= 7000
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "1"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_REGION"] == "us-east-1"
    assert not [k for k in env if k.startswith("TURNOUT_")]  # nothing of the server's environment
    assert (env["COLOR"], env["TIER"]) == ("blue", "gold")
    assert "EXTRA" not in env

    beta = ok(invoke(api, name, "beta"))
    assert beta["context"]["invoked_function_arn"] == f"{ARN}{name}:beta"
    assert (beta["env"]["COLOR"], beta["env"]["TIER"], beta["env"]["EXTRA"]) == ("blue", "silver", "yes")

    direct = ok(invoke(api, name, "1"))
    assert direct["context"]["invoked_function_arn"] == f"{ARN}{name}:1"
    assert (direct["env"]["COLOR"], direct["env"]["TIER"]) == ("blue", "free")
    assert "EXTRA" not in direct["env"]

    latest = invoke(api, name)
    assert latest.headers["X-Turnout-Version"] == "$LATEST"
    assert ok(latest)["context"]["invoked_function_arn"] == f"{ARN}{name}"
    assert ok(latest)["context"]["function_version"] == "$LATEST"


def test_async_handler(api: httpx.Client) -> None:
    name = unique("async")
    deploy(api, name, {"app.py": MISC}, handler="app.greet", timeout=5)
    for who in ("ada", "grace"):  # twice: the worker's event loop serves more than one invocation
        response = invoke(api, name, event={"name": who})
        body = ok(response)
        assert body["hello"] == who
        assert body["request_id"] == response.headers["X-Turnout-Request-Id"]
        assert body["function"] == name
        assert 0 < body["remaining_ms"] <= 5000


@pytest.mark.parametrize("handler", ["app.fails", "app.fails_async"])
def test_an_exception_is_function_unhandled_with_the_users_frames(api: httpx.Client, handler: str) -> None:
    name = unique("raise")
    deploy(api, name, {"app.py": MISC}, handler=handler)
    error = function_error(invoke(api, name, event={"qty": -1}))
    assert error["code"] == "Function.Unhandled"
    assert (error["type"], error["message"]) == ("ValueError", "bad quantity -1")
    trace = "".join(error["trace"])
    assert f'app.py", line {RAISE_LINE}, in check' in trace
    assert "raise ValueError(f\"bad quantity {order['qty']}\")" in trace
    if handler == "app.fails":
        assert f'app.py", line {CHECK_CALL_LINE}, in fails' in trace
    assert "bootstrap.py" not in trace and "turnout/runtime" not in trace and "asyncio" not in trace
    assert ok(invoke(api, name, event={"qty": 1})) == {}  # the worker lives on


def test_a_result_that_is_not_json_is_a_marshal_error(api: httpx.Client) -> None:
    name = unique("marshal")
    deploy(api, name, {"app.py": MISC}, handler="app.unserialisable")
    error = function_error(invoke(api, name))
    assert error["code"] == "Function.MarshalError"
    assert "set" in error["message"]


def test_a_result_over_the_response_limit_is_an_error(api: httpx.Client) -> None:
    name = unique("huge")
    source = "def handler(event, context):\n    return 'x' * event['size']\n"
    deploy(api, name, {"app.py": source})
    small = invoke(api, name, event={"size": 1000})
    assert (small.status_code, small.json()) == (200, "x" * 1000)
    error = function_error(invoke(api, name, event={"size": 7 * 1024 * 1024}))  # the default limit is 6 MiB
    assert error["code"] == "Function.ResponseSizeTooLarge"


def test_request_errors(api: httpx.Client) -> None:
    name = unique("req")
    release(api, name, probe())
    point(api, name, "prod", version=1)

    bad = invoke(api, name, "prod", content=b"{not json")
    assert (bad.status_code, error_code(bad)) == (400, "InvalidRequestContent")
    assert "X-Turnout-Function-Error" not in bad.headers

    missing = invoke(api, unique("nobody"))
    assert (missing.status_code, error_code(missing)) == (404, "FunctionNotFound")
    no_alias = invoke(api, name, "staging")
    assert (no_alias.status_code, error_code(no_alias)) == (404, "AliasNotFound")
    no_version = invoke(api, name, "9")
    assert (no_version.status_code, error_code(no_version)) == (404, "VersionNotFound")
    qualified = api.post(f"/v1/functions/{name}:9/invoke", json={})
    assert (qualified.status_code, error_code(qualified)) == (404, "VersionNotFound")

    assert ok(invoke(api, name, "prod", content=b""))["marker"] == "v1"  # an empty body is {}


def test_a_payload_over_the_limit_is_413(tight_api: httpx.Client) -> None:
    name = unique("big")
    release(tight_api, name, probe())
    assert ok(invoke(tight_api, name, "1", {"blob": "x" * 1500}))["marker"] == "v1"
    too_big = invoke(tight_api, name, "1", {"blob": "x" * 3000})
    assert (too_big.status_code, error_code(too_big)) == (413, "RequestTooLarge")


# ---------------------------------------------------------------------------------------------- failures


def test_a_timeout_is_504_and_the_worker_is_replaced(api: httpx.Client) -> None:
    name = unique("slow")
    release(api, name, probe(), timeout=1)
    first = ok(invoke(api, name, "1"))["pid"]

    started = time.monotonic()
    error = function_error(invoke(api, name, "1", {"sleep": 3}), status=504)
    assert error["code"] == "Function.Timeout"
    assert time.monotonic() - started < 2.9  # cut at the timeout, not at the end of the sleep
    wait_for(lambda: gone(first), timeout=10, what=f"timed-out worker {first} to be killed")

    after = invoke(api, name, "1")
    assert ok(after)["pid"] != first
    assert "X-Turnout-Init-Duration" in after.headers  # a new worker: a cold start


def test_too_much_memory_is_function_out_of_memory(api: httpx.Client) -> None:
    name = unique("hog")
    release(api, name, probe(), memory=128)
    error = function_error(invoke(api, name, "1", {"allocate_mb": 400}))
    assert (error["code"], error["type"]) == ("Function.OutOfMemory", "MemoryError")
    assert ok(invoke(api, name, "1", {"allocate_mb": 16}))["marker"] == "v1"


def test_a_crash_fails_only_its_own_request(server: Server, api: httpx.Client, tmp_path: Path) -> None:
    name, other = unique("crash"), unique("bystander")
    release(api, name, probe())
    release(api, other, probe())
    bystander = ok(invoke(api, other, "1"))["pid"]
    crashing = ok(invoke(api, name, "1"))["pid"]

    # a slow invocation of the same function, running while another of its workers crashes
    gate = Flag("go")
    join = hold(server, name, "1", Flag("started"), gate)
    for how in ("exit", "sigkill"):
        error = function_error(invoke(api, name, "1", {how: True}))
        assert error["code"] == "Function.Crashed", how
    gate.touch()
    assert ok(join())["marker"] == "v1"

    assert ok(invoke(api, name, "1"))["pid"] == crashing  # the worker that was not the one to crash

    again = invoke(api, other, "1")
    assert ok(again)["pid"] == bystander and alive(bystander)
    assert "X-Turnout-Init-Duration" not in again.headers


def test_a_handler_whose_import_fails_is_refused_at_publish_and_fails_at_invoke(api: httpx.Client) -> None:
    name = unique("broken")
    source = (
        "import os\n\nraise RuntimeError('cannot start: no config')\n\n\ndef handler(e, c):\n    return {}\n"
    )
    deploy(api, name, {"app.py": source})

    refused = api.post(f"/v1/functions/{name}/versions", json={})
    assert (refused.status_code, error_code(refused)) == (400, "Function.ImportError")
    assert "cannot start: no config" in refused.json()["error"]["message"]
    assert api.get(f"/v1/functions/{name}/versions").json()["versions"] == []
    assert api.get(f"/v1/functions/{name}/versions/1").status_code == 404

    error = function_error(invoke(api, name, "$LATEST"))
    assert (error["code"], error["type"]) == ("Function.ImportError", "RuntimeError")
    assert error["message"] == "cannot start: no config"
    assert any('app.py", line 3' in line for line in error["trace"])
    assert not any("bootstrap.py" in line for line in error["trace"])


def test_a_handler_whose_import_kills_the_process_is_refused_and_fails_as_crashed(api: httpx.Client) -> None:
    name = unique("dies")
    deploy(api, name, {"app.py": "import os\n\nos._exit(3)\n\n\ndef handler(e, c):\n    return {}\n"})
    refused = api.post(f"/v1/functions/{name}/versions", json={})
    assert (refused.status_code, error_code(refused)) == (400, "Function.ImportError")
    assert "died" in refused.json()["error"]["message"]
    error = function_error(invoke(api, name))
    assert error["code"] == "Function.Crashed"

    deploy(api, name, probe("fixed"))
    assert ok(invoke(api, name))["marker"] == "fixed"


def test_a_missing_handler_is_handler_not_found(api: httpx.Client) -> None:
    name = unique("nohandler")
    deploy(api, name, {"app.py": HELLO}, handler="app.missing")
    error = function_error(invoke(api, name))
    assert error["code"] == "Function.HandlerNotFound"
    assert "missing" in error["message"]
    refused = api.post(f"/v1/functions/{name}/versions", json={})
    assert (refused.status_code, error_code(refused)) == (400, "Function.HandlerNotFound")


def test_a_concurrency_limit_without_a_queue_throttles_the_extra_invocation(
    tight: Server, tight_api: httpx.Client, tmp_path: Path
) -> None:
    name = unique("busy")
    release(tight_api, name, probe())
    gate = Flag("go")
    first = hold(tight, name, "1", Flag("a"), gate)
    second = hold(tight, name, "1", Flag("b"), gate)

    third = invoke(tight_api, name, "1")
    assert (third.status_code, error_code(third)) == (429, "Throttled")
    assert third.headers["Retry-After"] == "1"
    gate.touch()
    assert ok(first())["pid"] != ok(second())["pid"]
    assert ok(invoke(tight_api, name, "1"))["marker"] == "v1"  # the slots are free again


def test_idle_workers_stop_and_the_next_invocation_is_a_cold_start(
    tight: Server, tight_api: httpx.Client, tmp_path: Path
) -> None:
    name = unique("idle")
    release(tight_api, name, probe())
    gate = Flag("go")
    burst = [hold(tight, name, "1", Flag(f"started-{i}"), gate) for i in range(2)]
    gate.touch()
    pids = {ok(join())["pid"] for join in burst}
    assert len(pids) == 2
    wait_for(lambda: all(gone(pid) for pid in pids), timeout=15, what=f"idle workers {pids} to stop")

    later = invoke(tight_api, name, "1")
    assert ok(later)["pid"] not in pids
    assert float(later.headers["X-Turnout-Init-Duration"]) > 0


def test_the_first_invocation_of_new_code_is_a_cold_start(api: httpx.Client) -> None:
    name = unique("cold")
    deploy(api, name, probe("a"))
    first = invoke(api, name, "$LATEST")
    assert ok(first)["marker"] == "a" and float(first.headers["X-Turnout-Init-Duration"]) > 0
    warm = invoke(api, name, "$LATEST")
    assert ok(warm)["pid"] == ok(first)["pid"]
    assert "X-Turnout-Init-Duration" not in warm.headers

    deploy(api, name, probe("b"))
    changed = invoke(api, name, "$LATEST")
    assert ok(changed)["marker"] == "b"
    assert "X-Turnout-Init-Duration" in changed.headers

    assert publish(api, name)["version"] == 1
    published = invoke(api, name, "1")
    assert ok(published)["marker"] == "b"
    assert "X-Turnout-Init-Duration" in published.headers
