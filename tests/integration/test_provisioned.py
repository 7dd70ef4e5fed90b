"""Provisioned concurrency: warm workers kept per alias or version, moved with the alias."""

from __future__ import annotations

import concurrent.futures
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server, alive, deploy, error_code, publish, unique, wait_for

pytestmark = pytest.mark.integration

SLOW = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return os.getpid()
"""


@pytest.fixture
def quick_reaping(tmp_path: Path) -> Iterator[Server]:
    """A server whose idle workers stop after one second, so scale-to-zero is quick to see."""
    server = Server(tmp_path / "data", extra_env={"TURNOUT_WORKER_IDLE_SECONDS": "1"}).start()
    yield server
    server.stop()


def _pools(api: httpx.Client, name: str) -> dict[str, dict]:
    return {p["version"]: p for p in api.get(f"/v1/functions/{name}/workers").json()["pools"]}


def _two_versions(api: httpx.Client) -> str:
    name = unique()
    deploy(api, name, files={"app.py": SLOW})
    publish(api, name)
    deploy(api, name, files={"app.py": SLOW}, timeout=31)
    publish(api, name)
    return name


def test_provisioned_workers_are_warm_stay_warm_and_follow_the_alias(quick_reaping: Server) -> None:
    with quick_reaping.client() as api:
        name = _two_versions(api)
        api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
        answer = api.put(f"/v1/functions/{name}/provisioned/prod", json={"workers": 2})
        assert answer.status_code == 200 and answer.json()["provisioned"] == {"prod": 2}
        pool = _pools(api, name)["1"]
        assert pool["min_warm"] == 2 and len(pool["pids"]) == 2  # warm before the answer came back

        with concurrent.futures.ThreadPoolExecutor(2) as threads:
            calls = [
                threads.submit(api.post, f"/v1/functions/{name}:prod/invoke", json={"sleep": 0.3})
                for _ in range(2)
            ]
            replies = [c.result() for c in calls]
        assert all(r.status_code == 200 for r in replies)
        assert not any("x-turnout-init-duration" in r.headers for r in replies)
        assert {r.json() for r in replies} == set(pool["pids"])

        # an unprovisioned worker scales to zero while the provisioned ones stay
        latest_pid = api.post(f"/v1/functions/{name}/invoke").json()
        wait_for(lambda: not alive(latest_pid), timeout=20, what="the $LATEST worker to scale to zero")
        assert all(alive(pid) for pid in pool["pids"])

        moved = api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 2})
        assert moved.status_code == 200
        assert len(_pools(api, name)["2"]["pids"]) == 2  # the new version was warmed before the ack
        wait_for(lambda: not any(alive(pid) for pid in pool["pids"]), timeout=20, what="v1 to scale down")


def test_an_alias_split_spreads_provisioned_workers_by_weight(server: Server, api: httpx.Client) -> None:
    name = _two_versions(api)
    api.put(f"/v1/functions/{name}/aliases/live", json={"weights": {"1": 50, "2": 50}})
    api.put(f"/v1/functions/{name}/provisioned/live", json={"workers": 3})
    pools = _pools(api, name)
    assert (pools["1"]["min_warm"], pools["2"]["min_warm"]) == (2, 1)
    api.put(f"/v1/functions/{name}/provisioned/live", json={"workers": 0})
    assert api.get(f"/v1/functions/{name}/provisioned").json()["provisioned"] == {}
    assert all(p["min_warm"] == 0 for p in _pools(api, name).values())


def test_a_killed_provisioned_worker_is_replaced(quick_reaping: Server) -> None:
    with quick_reaping.client() as api:
        name = _two_versions(api)
        api.put(f"/v1/functions/{name}/provisioned/2", json={"workers": 1})
        (victim,) = _pools(api, name)["2"]["pids"]
        os.kill(victim, signal.SIGKILL)
        replaced = wait_for(
            lambda: [p for p in _pools(api, name)["2"]["pids"] if p != victim],
            timeout=20,
            what="a new worker",
        )
        assert api.post(f"/v1/functions/{name}:2/invoke").json() == replaced[0]


def test_provisioned_workers_are_warmed_again_after_a_restart(fresh_server: Server) -> None:
    fresh_server.start()
    with fresh_server.client() as api:
        name = _two_versions(api)
        api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 2})
        api.put(f"/v1/functions/{name}/provisioned/prod", json={"workers": 1})
    fresh_server.stop()
    fresh_server.start()
    with fresh_server.client() as api:
        assert len(_pools(api, name)["2"]["pids"]) == 1


def test_bad_provisioning_requests_are_refused(api: httpx.Client) -> None:
    name = _two_versions(api)
    assert error_code(api.put(f"/v1/functions/{name}/provisioned/$LATEST", json={"workers": 1})) == (
        "InvalidParameterValue"
    )
    assert (
        error_code(api.put(f"/v1/functions/{name}/provisioned/nope", json={"workers": 1})) == "AliasNotFound"
    )
    assert (
        error_code(api.put(f"/v1/functions/{name}/provisioned/9", json={"workers": 1})) == "VersionNotFound"
    )
    assert api.put(f"/v1/functions/{name}/provisioned/1", json={"workers": -1}).status_code == 400
    assert api.get(f"/v1/functions/{name}/provisioned").json()["provisioned"] == {}
