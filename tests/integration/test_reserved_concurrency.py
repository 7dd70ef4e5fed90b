"""Reserved concurrency: a function's own limit of invocations at once, through the native API, the CLI
and boto3, enforced by a real server (and still enforced after a restart)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from tests.integration.lambda_support import lambda_client
from tests.integration.runtime_support import invoke, ok, probe, release
from tests.support import Flag, Server, error_code, in_background, unique, wait_for
from turnout.cli.main import app

pytestmark = pytest.mark.integration


def hold(server: Server, name: str, started: Flag, gate: Flag) -> Callable[[], Any]:
    """An invocation of version 1 that waits for ``gate``; returns once it is running."""

    def call() -> httpx.Response:
        with server.client() as client:
            return invoke(client, name, "1", {"started": str(started), "wait_for": str(gate)})

    join = in_background(call)
    wait_for(started.exists, timeout=20, what=f"invocation of {name} to start")
    return join


def concurrency(api: httpx.Client, name: str) -> dict[str, Any]:
    response = api.get(f"/v1/functions/{name}/concurrency")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_reserved_limit_queues_past_it_zero_stops_and_clearing_restores(
    quick: Server, client: httpx.Client, tmp_path: Path
) -> None:
    name = unique("reserved")
    release(client, name, probe())
    default = concurrency(client, name)
    machine = default["limit"]  # TURNOUT_FUNCTION_CONCURRENCY=0: chosen from the machine
    assert default["reserved"] is None and machine >= 2

    set_one = client.put(f"/v1/functions/{name}/concurrency", json={"reserved": 1})
    assert set_one.json() == {"function": name, "reserved": 1, "limit": 1}
    assert client.get(f"/v1/functions/{name}").json()["reserved_concurrency"] == 1
    gate = Flag("go")
    running = hold(quick, name, Flag("a"), gate)

    def call() -> httpx.Response:
        with quick.client() as other:
            return invoke(other, name, "1")

    extra = in_background(call)  # the function is at its limit of 1: this one waits in the queue
    wait_for(lambda: client.get(f"/v1/functions/{name}/workers").json()["pools"][0]["queued"] == 1)
    gate.touch()  # the one running finishes: the queued one gets its slot
    ok(running())
    assert ok(extra())["marker"] == "v1"
    assert ok(invoke(client, name, "1"))["marker"] == "v1"  # its one slot is free again

    client.put(f"/v1/functions/{name}/concurrency", json={"reserved": 0})
    stopped = invoke(client, name, "1")
    assert (stopped.status_code, error_code(stopped)) == (429, "Throttled")
    assert "stopped" in stopped.json()["error"]["message"]

    cleared = client.delete(f"/v1/functions/{name}/concurrency")
    assert cleared.json() == {"function": name, "reserved": None, "limit": machine}
    assert ok(invoke(client, name, "1"))["marker"] == "v1"


def test_bad_limits_are_refused_and_change_nothing(client: httpx.Client) -> None:
    name = unique("reserved-bad")
    release(client, name, probe())
    for body in ({"reserved": -1}, {"reserved": 10_001}, {"reserved": "many"}, {"limit": 3}):
        response = client.put(f"/v1/functions/{name}/concurrency", json=body)
        assert (response.status_code, error_code(response)) == (400, "InvalidParameterValue"), body
    assert concurrency(client, name)["reserved"] is None
    missing = client.put("/v1/functions/no-such-function/concurrency", json={"reserved": 1})
    assert (missing.status_code, error_code(missing)) == (404, "FunctionNotFound")


def test_the_limit_survives_a_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    try:
        with server.client() as api:
            name = unique("reserved-restart")
            release(api, name, probe())
            api.put(f"/v1/functions/{name}/concurrency", json={"reserved": 0})
        server.stop()
        server.start()
        with server.client() as api:
            refused = invoke(api, name, "1")  # the first invocation after the restart loads the function
            assert (refused.status_code, error_code(refused)) == (429, "Throttled")
            assert concurrency(api, name)["reserved"] == 0
    finally:
        server.stop()


def test_cli_sets_shows_and_clears_it(quick: Server, client: httpx.Client, tmp_path: Path) -> None:
    name = unique("reserved-cli")
    release(client, name, probe())
    env = {"TURNOUT_URL": quick.url, "TURNOUT_TOKEN": quick.token, "COLUMNS": "200", "NO_COLOR": "1"}
    runner = CliRunner()
    set_five = runner.invoke(app, ["concurrency", name, "5"], env=env)
    assert set_five.exit_code == 0, set_five.output
    assert "reserved" in set_five.output and "5" in set_five.output
    shown = runner.invoke(app, ["concurrency", name, "-o", "json"], env=env)
    assert '"reserved": 5' in shown.output
    cleared = runner.invoke(app, ["concurrency", name, "--clear", "-o", "json"], env=env)
    assert cleared.exit_code == 0 and '"reserved": null' in cleared.output
    both = runner.invoke(app, ["concurrency", name, "3", "--clear"], env=env)
    assert both.exit_code != 0
    assert concurrency(client, name)["reserved"] is None


def test_boto3_put_get_delete_function_concurrency(quick: Server, client: httpx.Client) -> None:
    name = unique("reserved-aws")
    release(client, name, probe())
    aws = lambda_client(quick.url)
    assert aws.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    assert "Concurrency" not in aws.get_function(FunctionName=name)
    put = aws.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert put["ReservedConcurrentExecutions"] == 0
    assert aws.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    assert aws.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    with pytest.raises(ClientError) as throttled:
        aws.invoke(FunctionName=name, Qualifier="1", Payload=b"{}")
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    with pytest.raises(ClientError) as qualified:
        aws.put_function_concurrency(FunctionName=f"{name}:1", ReservedConcurrentExecutions=2)
    assert qualified.value.response["Error"]["Code"] == "InvalidParameterValueException"
    aws.delete_function_concurrency(FunctionName=name)
    assert aws.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    assert aws.invoke(FunctionName=name, Qualifier="1", Payload=b"{}")["StatusCode"] == 200
    with pytest.raises(ClientError) as missing:
        aws.get_function_concurrency(FunctionName="no-such-function")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
