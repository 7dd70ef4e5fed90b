"""Bursts are queued, not refused: a request that finds its function at its concurrency limit waits in its
version's FIFO queue (bounded by length and time), and only past the bound answers 429 with Retry-After;
reserved concurrency 0 still refuses at once. Idle warm workers are capped node-wide."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.runtime_support import invoke, ok, point, probe, release
from tests.support import Flag, Server, deploy, error_code, in_background, publish, unique, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def short_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose queued requests wait at most 2 s."""
    env = {"TURNOUT_QUEUE_WAIT_MS": "2000"}
    running = Server(tmp_path_factory.mktemp("queue") / "data", extra_env=env).start()
    yield running
    running.stop()


def metric(api: httpx.Client, name: str, function: str, version: str) -> float | None:
    """One series' value from /metrics (``None`` when it is not there)."""
    pattern = rf'^{name}\{{[^}}]*function="{re.escape(function)}"[^}}]*version="{version}"[^}}]*\}} (\S+)$'
    found = re.search(pattern, api.get("/metrics").text, re.MULTILINE)
    return None if found is None else float(found.group(1))


def queued(api: httpx.Client, function: str) -> int:
    return sum(pool["queued"] for pool in api.get(f"/v1/functions/{function}/workers").json()["pools"])


def later(server: Server, name: str, event: dict[str, str] | None = None) -> Callable[[], httpx.Response]:
    """Invoke version 1 in the background; the returned function joins it and gives its response."""

    def call() -> httpx.Response:
        with server.client() as api:
            return invoke(api, name, "1", event)

    return in_background(call)


def hold(server: Server, name: str) -> tuple[Flag, Callable[[], httpx.Response]]:
    """Start an invocation of version 1 that runs until the returned flag is touched."""
    started, gate = Flag("started"), Flag("gate")
    join = later(server, name, {"started": str(started), "wait_for": str(gate)})
    wait_for(started.exists, timeout=30, what="the held invocation to start")
    return gate, join


async def _burst(url: str, token: str, name: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as api:
        calls = [
            api.post(f"/v1/functions/{name}/invoke", params={"qualifier": "1"}, json={"sleep": 0.05})
            for _ in range(count)
        ]
        return list(await asyncio.gather(*calls))


def test_a_burst_of_128_against_the_default_concurrency_is_served_in_full(
    quick: Server, client: httpx.Client
) -> None:
    name = unique("burst")
    release(client, name, probe())
    limit = client.get(f"/v1/functions/{name}/concurrency").json()["limit"]
    assert limit < 128  # the machine's default: the burst has to queue
    answers = asyncio.run(_burst(quick.url, quick.token, name, 128))
    assert [r.status_code for r in answers] == [200] * 128, {r.status_code for r in answers}
    waited = metric(client, "turnout_queue_wait_seconds_count", name, "1")
    assert waited is not None and waited >= 128 - limit - 16  # most past the limit queued (some ran cold)
    assert metric(client, "turnout_throttles_total", name, "1") is None
    pool = client.get(f"/v1/functions/{name}/workers").json()["pools"][0]
    assert pool["queued"] == 0 and pool["queue_wait_p99_ms"] > 0


def test_queue_depth_shows_while_a_request_waits_and_it_runs_when_a_slot_frees(
    quick: Server, client: httpx.Client
) -> None:
    name = unique("queued")
    release(client, name, probe())
    client.put(f"/v1/functions/{name}/concurrency", json={"reserved": 1})
    gate, running = hold(quick, name)
    waiting = later(quick, name)
    wait_for(lambda: queued(client, name) == 1, timeout=30, what="the second request to queue")
    assert metric(client, "turnout_queue_depth", name, "1") == 1.0
    gate.touch()
    ok(running())
    assert ok(waiting())["marker"] == "v1"
    assert metric(client, "turnout_queue_depth", name, "1") == 0.0
    wait = metric(client, "turnout_queue_wait_seconds_count", name, "1")
    assert wait == 1.0


def test_a_wait_past_the_bound_answers_429_with_retry_after_and_reserved_zero_refuses_at_once(
    short_queue: Server,
) -> None:
    with short_queue.client() as api:
        name = unique("bound")
        release(api, name, probe())
        api.put(f"/v1/functions/{name}/concurrency", json={"reserved": 1})
        gate, running = hold(short_queue, name)
        began = time.monotonic()
        refused = invoke(api, name, "1")
        waited = time.monotonic() - began
        assert (refused.status_code, error_code(refused)) == (429, "Throttled"), refused.text
        assert refused.headers["Retry-After"] == "1"
        assert "within 2 s" in refused.json()["error"]["message"]
        assert waited >= 2.0
        assert metric(api, "turnout_throttles_total", name, "1") == 1.0
        gate.touch()
        ok(running())

        api.put(f"/v1/functions/{name}/concurrency", json={"reserved": 0})
        began = time.monotonic()
        stopped = invoke(api, name, "1")
        assert (stopped.status_code, error_code(stopped)) == (429, "Throttled")
        assert "stopped" in stopped.json()["error"]["message"]
        assert time.monotonic() - began < 1.5  # not queued: the bound is 2 s


def _descendants(root: int) -> set[int]:
    """Pids of every living process below ``root`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_idle_workers_return_under_the_cap_after_1000_alias_moves(tmp_path: Path) -> None:
    cap = 20
    server = Server(tmp_path / "data", extra_env={"TURNOUT_WORKER_IDLE_CAP": str(cap)}).start()
    try:
        assert server.process is not None
        baseline = len(_descendants(server.process.pid))  # the zygote
        with server.client() as api:
            names = [unique(f"idle{i}") for i in range(100)]
            for name in names:
                release(api, name, {"app.py": "def handler(event, context):\n    return 1\n"})
                deploy(api, name, {"app.py": "def handler(event, context):\n    return 2\n"})
                publish(api, name)
                point(api, name, "live", version=1)
            for move in range(10):
                for name in names:
                    point(api, name, "live", version=2 - move % 2)  # warms the version it moves to
            began = time.monotonic()

            def idle() -> int:
                return sum(
                    pool["idle"]
                    for name in names
                    for pool in api.get(f"/v1/functions/{name}/workers").json()["pools"]
                )

            wait_for(lambda: idle() <= cap, timeout=10, interval=0.2, what=f"idle workers under {cap}")
            settled = time.monotonic() - began
            workers = len(_descendants(server.process.pid)) - baseline
            assert workers <= cap, workers
            assert settled < 10
            assert all(os.path.exists(f"/proc/{pid}") for name in names[-5:] for pid in _pids(api, name))
    finally:
        server.stop()


def _pids(api: httpx.Client, name: str) -> list[int]:
    return [pid for pool in api.get(f"/v1/functions/{name}/workers").json()["pools"] for pid in pool["pids"]]
