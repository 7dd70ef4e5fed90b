"""Moving an alias under load: in-flight requests finish on the version they started on, every new
request is routed by the alias as it is at that moment, and no request fails while it moves.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.runtime_support import invoke, ok, point, probe, release
from tests.support import Flag, Server, unique, wait_for

pytestmark = pytest.mark.integration

CLIENTS = 6
FLIPS = 200
BUDGET_SECONDS = 20.0


def test_an_in_flight_request_finishes_on_its_version_while_new_ones_take_the_new_one(
    server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    name = unique("inflight")
    release(api, name, probe("v1"))
    release(api, name, probe("v2"))
    point(api, name, "prod", version=1)
    started, gate = Flag("started"), Flag("go")
    box: dict[str, httpx.Response] = {}

    def slow() -> None:
        with server.client() as client:
            box["slow"] = invoke(client, name, "prod", {"started": str(started), "wait_for": str(gate)})

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    wait_for(started.exists, timeout=20, what="the slow invocation to start")

    point(api, name, "prod", version=2)
    fresh = invoke(api, name, "prod")
    assert (fresh.headers["X-Turnout-Version"], ok(fresh)["marker"]) == ("2", "v2")
    gate.touch()
    thread.join(30)
    assert not thread.is_alive()
    assert (box["slow"].headers["X-Turnout-Version"], ok(box["slow"])["marker"]) == ("1", "v1")


@dataclass(frozen=True)
class Call:
    start: float
    end: float
    status: int
    version: str | None
    marker: str | None


@dataclass(frozen=True)
class Flip:
    sent: float
    acknowledged: float
    target: str


def test_flipping_an_alias_200_times_under_load_fails_nothing_and_misroutes_nothing(
    server: Server, api: httpx.Client
) -> None:
    name = unique("flip")
    release(api, name, probe("v1"))
    release(api, name, probe("v2"))
    point(api, name, "prod", version=1)
    initial = Flip(0.0, time.monotonic(), "1")
    stop = threading.Event()
    calls: list[list[Call]] = [[] for _ in range(CLIENTS)]
    failures: list[BaseException] = []

    def client(mine: list[Call]) -> None:
        try:
            with server.client() as http:
                while not stop.is_set():
                    start = time.monotonic()
                    response = invoke(http, name, "prod")
                    end = time.monotonic()
                    marker = response.json().get("marker") if response.status_code == 200 else None
                    mine.append(
                        Call(
                            start,
                            end,
                            response.status_code,
                            response.headers.get("X-Turnout-Version"),
                            marker,
                        )
                    )
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(calls[i],), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    flips = [initial]
    deadline = time.monotonic() + BUDGET_SECONDS
    try:
        wait_for(lambda: all(calls), timeout=10, what="every client to get an answer")
        for i in range(FLIPS):
            if time.monotonic() > deadline:
                break
            target = "2" if i % 2 == 0 else "1"
            sent = time.monotonic()
            point(api, name, "prod", version=int(target))
            flips.append(Flip(sent, time.monotonic(), target))
            time.sleep(0.01)  # let each target serve some requests on its own
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures
    assert len(flips) == FLIPS + 1, f"only {len(flips) - 1} flips within {BUDGET_SECONDS} s"

    every = [call for mine in calls for call in mine]
    failed = [call for call in every if call.status != 200]
    assert not failed, f"{len(failed)} of {len(every)} requests failed: {failed[:5]}"
    assert all(call.marker == f"v{call.version}" for call in every)

    strict, misrouted = 0, []
    for call in every:
        allowed = allowed_versions(flips, call.start, call.end)
        strict += len(allowed) == 1
        if call.version not in allowed:
            misrouted.append((call, sorted(allowed)))
    assert not misrouted, f"{len(misrouted)} of {len(every)} requests misrouted: {misrouted[:5]}"
    assert strict >= 100, f"only {strict} of {len(every)} requests ran between two flips"


def allowed_versions(flips: list[Flip], start: float, end: float) -> set[str]:
    """Every target the alias may have had during [start, end]: the one acknowledged before the request
    started, and that of every move in progress (sent, not yet acknowledged) or made while it ran."""
    before = [f for f in flips if f.acknowledged <= start]
    allowed = {before[-1].target}
    allowed |= {f.target for f in flips if f.sent <= end and f.acknowledged > start}
    return allowed
