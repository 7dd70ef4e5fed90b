"""A release rollout in a cluster: two real nodes on one PostgreSQL database. One node holds the release's
one lease (its oldest member's) and decides every member; traffic through both nodes is judged; one failing
member rolls all three back, and both nodes serve the baselines afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.integration.cluster_support import Cluster, fresh_database
from tests.integration.rollout_support import alias_target, two_versions, versioned
from tests.support import unique, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
TERMINAL = {"succeeded", "rolled-back", "failed", "aborted"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("release-cluster")
    with fresh_database("turnout_releases") as url:
        nodes = Cluster(root, url)
        for name in ("node1", "node2"):
            nodes.add(name, TURNOUT_ROLLOUT_TICK_MS="100")
        try:
            for server in nodes.nodes:
                nodes.start(server)
            yield nodes
        finally:
            nodes.stop()


@pytest.fixture(scope="module")
def apis(cluster: Cluster) -> Iterator[list[httpx.Client]]:
    made = [cluster.client(server) for server in cluster.nodes]
    yield made
    for client in made:
        client.close()


def leases(cluster: Cluster, release: str) -> list[tuple[int, str | None]]:
    """(rollout id, lease owner) of the release's member rollouts, read in the store."""
    engine = create_engine(cluster.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            query = text(
                "SELECT r.id, r.lease_owner FROM rollouts r JOIN releases l ON l.id = r.release_id "
                "WHERE l.name = :name ORDER BY r.id"
            )
            return [(int(row[0]), row[1]) for row in conn.execute(query, {"name": release})]
    finally:
        engine.dispose()


def served(api: httpx.Client, function: str) -> str | None:
    """The version that served a call of ``function:prod`` through this node."""
    return api.post(f"/v1/functions/{function}:prod/invoke", json={}).headers.get("x-turnout-version")


def test_one_node_decides_a_release_and_a_failing_member_rolls_all_back(
    cluster: Cluster, apis: list[httpx.Client]
) -> None:
    prefix = unique("crel")
    functions = {}
    for part in ("api", "worker", "web"):
        candidate = versioned("v2", fail_rate=1.0 if part == "worker" else 0.0)
        functions[f"{prefix}-{part}"] = two_versions(apis[0], f"{prefix}-{part}", candidate)
    name = unique("cluster-release")
    body = {
        "name": name,
        "members": [{"function": f, "alias": "prod", "version": pair[1]} for f, pair in functions.items()],
        "rollout": {
            "strategy": "canary",
            "weight": 50,
            "bake_s": 120,
            "gates": {"max_error_rate": 0.2, "min_invocations": 5},
            "window_s": 60,
        },
    }
    stop = threading.Event()

    def traffic(api: httpx.Client, function: str) -> None:
        while not stop.is_set():
            api.post(f"/v1/functions/{function}:prod/invoke", json={})

    threads = [
        threading.Thread(target=traffic, args=(api, function), daemon=True)
        for api in apis
        for function in functions
    ]
    for thread in threads:
        thread.start()
    try:
        response = apis[1].post("/v1/releases", json=body)
        assert response.status_code == 201, response.text

        def view() -> dict[str, Any]:
            found: dict[str, Any] = apis[0].get(f"/v1/releases/{name}").json()
            return found

        final = wait_for(lambda: (v := view())["state"] in TERMINAL and v, timeout=90, interval=0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    assert final["state"] == "rolled-back", final
    owners = leases(cluster, name)
    assert len(owners) == 3
    assert owners[0][1] in ("node1", "node2")  # the oldest member's lease: the release's one lease
    assert [owner for _, owner in owners[1:]] == [None, None]  # no node ever took another member's
    for function, (baseline, _) in functions.items():
        for api in apis:
            assert alias_target(api, function) == str(baseline)
            wait_for(lambda api=api, function=function, want=str(baseline): served(api, function) == want)
        history = apis[0].get(f"/v1/functions/{function}/aliases/prod/history").json()["history"]
        assert [h["action"] for h in history if h["details"].get("release") == name] == [
            "rollback",
            "rollout",
        ]
