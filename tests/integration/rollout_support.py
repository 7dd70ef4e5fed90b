"""Helpers for the rollout tests: a function whose versions misbehave on purpose, and a load generator."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.runtime_support import point, release
from tests.support import Server, wait_for

# A version that fails a share of its calls, sleeps, and answers with its marker (and, for shadow
# comparisons, a value computed from the event that ``factor`` changes).
VERSIONED = """\
import random
import time

MARKER = {marker!r}


def handler(event, context):
    if {sleep_s!r}:
        time.sleep({sleep_s!r})
    if random.random() < {fail_rate!r}:
        raise RuntimeError("the candidate is broken")
    return {{"marker": MARKER, "answer": event.get("n", 0) * {factor!r}}}
"""

TERMINAL = {"succeeded", "rolled-back", "failed", "aborted"}


def versioned(marker: str, fail_rate: float = 0.0, sleep_s: float = 0.0, factor: int = 2) -> dict[str, str]:
    return {"app.py": VERSIONED.format(marker=marker, fail_rate=fail_rate, sleep_s=sleep_s, factor=factor)}


def two_versions(
    api: httpx.Client,
    name: str,
    candidate: dict[str, str],
    baseline: dict[str, str] | None = None,
    **config: Any,
) -> tuple[int, int]:
    """Publish a baseline and a candidate, point ``prod`` at the baseline; their numbers."""
    first = release(api, name, baseline or versioned("v1"), **config)
    second = release(api, name, candidate, **config)
    point(api, name, "prod", version=first)
    return first, second


def start(api: httpx.Client, name: str, alias: str = "prod", **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/functions/{name}/aliases/{alias}/rollout", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def status(api: httpx.Client, name: str, alias: str = "prod") -> dict[str, Any]:
    response = api.get(f"/v1/functions/{name}/aliases/{alias}/rollout")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def finished(api: httpx.Client, name: str, timeout: float = 90.0, alias: str = "prod") -> dict[str, Any]:
    """Poll until the rollout reaches a terminal state; its final view."""
    return wait_for(
        lambda: (view := status(api, name, alias))["state"] in TERMINAL and view,
        timeout=timeout,
        interval=0.1,
        what=f"the rollout of {name}/{alias} to finish",
    )


def alias_target(api: httpx.Client, name: str, alias: str = "prod") -> str:
    response = api.get(f"/v1/functions/{name}/aliases/{alias}")
    assert response.status_code == 200, response.text
    return str(response.json()["target"])


@dataclass
class Load:
    """Counts of what the generated traffic met: by version, by status, by function error code."""

    versions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    cold: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def record(self, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            version = response.headers.get("X-Turnout-Version", "?")
            self.versions[version] += 1
            if "X-Turnout-Function-Error" in response.headers:
                self.errors[response.headers["X-Turnout-Function-Error"]] += 1
            if "X-Turnout-Init-Duration" in response.headers:
                self.cold[version] += 1


@contextmanager
def load(server: Server, name: str, clients: int = 3, alias: str = "prod") -> Iterator[Load]:
    """Invoke ``name:alias`` from ``clients`` threads until the block ends."""
    seen = Load()
    stop = threading.Event()

    def run(index: int) -> None:
        n = 0
        with server.client() as client:
            while not stop.is_set():
                n += 1
                try:
                    seen.record(
                        client.post(
                            f"/v1/functions/{name}/invoke", params={"qualifier": alias}, json={"n": n + index}
                        )
                    )
                except httpx.HTTPError as exc:
                    with seen.lock:
                        seen.failures.append(exc)

    threads = [threading.Thread(target=run, args=(i * 1_000_000,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
