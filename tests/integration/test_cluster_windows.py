"""Rollout windows across nodes, end to end: two real `turnout serve` nodes on one fresh PostgreSQL database.
A rollout started (and ticked) on node 1 rolls back by itself on failures that only node 2 served."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.integration.conftest import FAST_ROLLOUTS
from tests.integration.rollout_support import alias_target, finished, start, status, two_versions, versioned
from tests.support import POSTGRES_URL, Server, unique, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@contextmanager
def fresh_database() -> Iterator[str]:
    """A database of its own (``turnout_windows_<random>``), dropped afterwards; its URL."""
    name = f"turnout_windows_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class Traffic:
    """Invokes ``NAME:1`` and ``NAME:2`` by number, in turn, from a few threads, on one node; remembers
    when the first failure came back."""

    def __init__(self, server: Server, token: str, name: str, clients: int = 3) -> None:
        self.server, self.token, self.name, self.clients = server, token, name, clients
        self.first_failure: float | None = None
        self.calls = {"1": 0, "2": 0}
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        with self.server.client(token=self.token) as api:
            n = 0
            while not self._stop.is_set():
                version = "12"[n % 2]
                n += 1
                response = api.post(f"/v1/functions/{self.name}:{version}/invoke", json={"n": n})
                ran = response.headers.get("X-Turnout-Version", "?")
                with self._lock:
                    self.calls[ran] = self.calls.get(ran, 0) + 1
                    if "X-Turnout-Function-Error" in response.headers:
                        self.failures += 1
                        if self.first_failure is None:
                            self.first_failure = time.monotonic()


def test_a_rollout_on_node_1_rolls_back_on_failures_served_only_by_node_2(tmp_path: Path) -> None:
    with fresh_database() as url:
        node1 = Server(
            tmp_path / "node1", database_url=url, extra_env={**FAST_ROLLOUTS, "TURNOUT_NODE_NAME": "n1"}
        )
        # node 2's controller ticks once at start (node 1 holds the lease) and then not for ten minutes:
        # every decision below is node 1's
        quiet = {"TURNOUT_ROLLOUT_TICK_MS": "600000", "TURNOUT_NODE_NAME": "n2"}
        node2 = Server(tmp_path / "node2", database_url=url, extra_env=quiet)
        try:
            node1.start(timeout=60)
            with node1.client() as api:
                name = unique("cluster")
                baseline, candidate = two_versions(api, name, versioned("v2", fail_rate=1.0))
                gates = {"max_error_rate_increase": 0.01, "min_invocations": 20}
                start(
                    api,
                    name,
                    to=candidate,
                    strategy="canary",
                    weight=10,
                    bake_s=300,
                    gates=gates,
                    window_s=60,
                )
                wait_for(lambda: status(api, name)["state"] == "baking", timeout=30, what="the canary step")
            # The bundle store is being moved into PostgreSQL (another change); until then node 2 reads
            # bundles from its own data folder, so it gets a copy of node 1's.
            shutil.copytree(tmp_path / "node1" / "blobs", tmp_path / "node2" / "blobs")
            node2.start(timeout=60)
            with node1.client() as api, Traffic(node2, node1.token, name) as traffic:
                final = finished(api, name, timeout=90)
                rolled_back_at = time.monotonic()
                assert traffic.first_failure is not None
                lag = rolled_back_at - traffic.first_failure
            print(f"\nfirst failure on node 2 -> rollback by node 1: {lag:.2f} s ({traffic.calls})")
            assert final["state"] == "rolled-back", final["reason"]
            assert "relative_error_rate" in final["reason"]
            with node1.client() as api:
                assert alias_target(api, name) == str(baseline)
                rollback = api.get(f"/v1/functions/{name}/aliases/prod/history").json()["history"][0]
            figures = rollback["details"]["figures"]
            # node 1 served nothing: all it judged came from node 2's published buckets
            assert figures["candidate.invocations"] >= 20 and figures["candidate.error_rate"] == 1.0
            assert figures["baseline.invocations"] >= 20 and figures["baseline.error_rate"] == 0.0
            assert traffic.calls["2"] > 0 and traffic.failures > 0
            assert lag < 30
        finally:
            node2.stop()
            node1.stop()
