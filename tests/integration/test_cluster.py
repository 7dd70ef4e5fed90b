"""Cluster mode: real nodes on one PostgreSQL database, separate data folders, nothing else shared.

One module-scoped cluster of three nodes serves every test here, in order (some kill and restart nodes):
a fourth node, started for the outage test alone, reaches PostgreSQL through a proxy that can cut it off.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.integration.cluster_support import Cluster, PgProxy, fresh_database, haproxy
from tests.integration.rollout_support import alias_target, finished, start, status, two_versions, versioned
from tests.support import Server, error_code, make_zip, unique, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    # nodes are killed with SIGKILL under clients that keep connections alive: httpx's pool drops the broken
    # connections and leaves their sockets to the garbage collector, which warns
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

Apis = list[httpx.Client]
VERSIONED = "VERSION = {n}\n\ndef handler(event, context):\n    return {{'v': VERSION}}\n"
# posts what it ran for to the collector (an HTTP server of the test): works under the worker sandbox
REPORTER = """
import json, os, time, urllib.request

def handler(event, context):
    time.sleep(float(os.environ.get("SLEEP_S", "0")))
    body = json.dumps({"event": event, "request_id": context.aws_request_id}).encode()
    urllib.request.urlopen(urllib.request.Request(os.environ["COLLECTOR"], data=body), timeout=10).read()
    return {"ok": True}
"""


class Collector:
    """An HTTP server that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        lock = threading.Lock()
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                data = self.rfile.read(int(self.headers["content-length"]))
                with lock:
                    bodies.append(json.loads(data))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    with fresh_database() as url:
        nodes = Cluster(root, url)
        for name in ("node1", "node2", "node3"):
            nodes.add(name)
        try:
            for server in nodes.nodes:
                nodes.start(server)
            yield nodes
        finally:
            nodes.stop()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.close()


@pytest.fixture(scope="module")
def apis(cluster: Cluster) -> Iterator[list[httpx.Client]]:
    """A client of each of the three nodes (they keep their ports across restarts)."""
    made = [cluster.client(server) for server in cluster.nodes[:3]]
    yield made
    for client in made:
        client.close()


def deploy_versions(api: httpx.Client, name: str, count: int, **config: Any) -> None:
    """``count`` versions of a function whose answer names its version."""
    for n in range(1, count + 1):
        sha = api.post("/v1/bundles", content=make_zip({"app.py": VERSIONED.format(n=n)})).json()["sha256"]
        response = api.put(
            f"/v1/functions/{name}", json={"bundle_sha256": sha, "handler": "app.handler", **config}
        )
        assert response.status_code in (200, 201), response.text
        response = api.post(f"/v1/functions/{name}/versions", json={})
        assert response.status_code == 201, response.text


def version_of(api: httpx.Client, target: str) -> int:
    response = api.post(f"/v1/functions/{target}/invoke", json={})
    assert response.status_code == 200, response.text
    return int(response.headers["x-turnout-version"])


def test_nodes_are_ready_and_see_each_other(cluster: Cluster, apis: Apis) -> None:
    for api in apis:
        assert api.get("/v1/ready").json()["ready"] is True
        listed = wait_for(
            lambda api=api: (
                (found := api.get("/v1/nodes").json())
                and sum(n["state"] == "alive" for n in found["nodes"]) == 3
                and found
            ),
            timeout=15,
            what="three live nodes",
        )
        assert {n["name"] for n in listed["nodes"]} == {"node1", "node2", "node3"}
        assert all(n["version"] and n["address"].startswith("http://") for n in listed["nodes"])


def test_deployed_through_one_node_it_runs_on_every_node_at_once(cluster: Cluster, apis: Apis) -> None:
    one, two, three = apis
    name = unique("everywhere")
    deploy_versions(one, name, 1)
    results: dict[str, list[int]] = {}

    def hammer(api: httpx.Client, key: str) -> None:
        results[key] = [version_of(api, f"{name}:1") for _ in range(20)]

    threads = [threading.Thread(target=hammer, args=(api, key)) for api, key in ((two, "2"), (three, "3"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {"2": [1] * 20, "3": [1] * 20}
    sha = one.get(f"/v1/functions/{name}/versions/1").json()["code_sha256"]
    assert three.get(f"/v1/bundles/{sha}/zip").status_code == 200


def test_alias_moves_swaps_rollbacks_and_routes_made_anywhere_are_followed_everywhere(
    cluster: Cluster,
    apis: list[httpx.Client],
) -> None:
    one, two, three = apis
    name = unique("follow")
    deploy_versions(one, name, 3)

    def everywhere(target: str, version: int) -> None:
        for api in apis:
            wait_for(
                lambda api=api: version_of(api, target) == version, timeout=5, what=f"{target} -> {version}"
            )

    assert two.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1}).status_code == 201
    everywhere(f"{name}:prod", 1)
    assert three.put(f"/v1/functions/{name}/aliases/prod", json={"version": 2}).status_code == 200
    everywhere(f"{name}:prod", 2)
    assert one.put(f"/v1/functions/{name}/aliases/staging", json={"version": 3}).status_code == 201
    assert two.post(f"/v1/functions/{name}/swap", json={"a": "staging", "b": "prod"}).status_code == 200
    everywhere(f"{name}:prod", 3)
    everywhere(f"{name}:staging", 2)
    assert three.post(f"/v1/functions/{name}/aliases/prod/rollback", json={}).status_code == 200
    everywhere(f"{name}:prod", 2)

    path = f"/{name}/hello"
    made = one.post("/v1/routes", json={"path": path, "function": name, "qualifier": "prod"})
    assert made.status_code == 201, made.text
    for server in cluster.nodes[:3]:
        wait_for(
            lambda server=server: httpx.get(server.url + path).headers.get("x-turnout-version") == "2",
            timeout=5,
            what="the route on every node",
        )
    assert two.delete(f"/v1/routes/{made.json()['id']}").status_code == 204
    for server in cluster.nodes[:3]:
        wait_for(lambda server=server: httpx.get(server.url + path).status_code == 404, timeout=5)

    assert one.delete(f"/v1/functions/{name}").status_code == 204
    for api in apis:
        wait_for(
            lambda api=api: api.post(f"/v1/functions/{name}:prod/invoke", json={}).status_code == 404,
            timeout=5,
        )


def test_tokens_made_or_deleted_on_one_node_take_effect_on_all(cluster: Cluster, apis: Apis) -> None:
    one, two, three = apis
    made = two.post("/v1/tokens", json={"name": unique("tok"), "scopes": ["read"]})
    assert made.status_code == 201, made.text
    token, token_name = made.json()["token"], made.json()["name"]
    for server in cluster.nodes[:3]:
        with server.client(token=token) as api:
            assert api.get("/v1/functions").status_code == 200
    assert three.delete(f"/v1/tokens/{token_name}").status_code == 204
    started = time.monotonic()
    for server in cluster.nodes[:3]:
        with server.client(token=token) as api:
            wait_for(
                lambda api=api: api.get("/v1/functions").status_code == 401, timeout=3, what="token gone"
            )
    assert time.monotonic() - started < 3  # within the token cache time (2 s), not a restart


def warm_per_node(apis: Apis, name: str, version: str) -> list[int]:
    """The provisioned minimum of ``version``'s pool on each node (0: no pool)."""
    found = []
    for api in apis:
        pools = [
            p
            for p in api.get(f"/v1/functions/{name}/workers").json()["pools"]
            if str(p["version"]) == version
        ]
        found.append(max((p["min_warm"] for p in pools), default=0))
    return found


def test_provisioned_and_reserved_concurrency_are_cluster_wide_totals(cluster: Cluster, apis: Apis) -> None:
    name = unique("shares")
    deploy_versions(apis[0], name, 1)
    assert apis[0].put(f"/v1/functions/{name}/aliases/prod", json={"version": 1}).status_code == 201
    assert apis[1].put(f"/v1/functions/{name}/provisioned/prod", json={"workers": 4}).status_code == 200
    # 4 over node1, node2, node3: 2, 1, 1 (the remainder to the first by name), warm on every node
    wait_for(lambda: warm_per_node(apis, name, "1") == [2, 1, 1], timeout=20, what="provisioned shares")
    assert apis[2].put(f"/v1/functions/{name}/concurrency", json={"reserved": 2}).status_code == 200

    def throttled(api: httpx.Client) -> bool:
        return api.post(f"/v1/functions/{name}:prod/invoke", json={}).status_code == 429

    # 2 over three nodes: 1, 1, 0, so node3 refuses at once while the others serve
    wait_for(lambda: throttled(apis[2]), timeout=10, what="node3's share of 0")
    assert not throttled(apis[0]) and not throttled(apis[1])
    assert apis[0].delete(f"/v1/functions/{name}/concurrency").status_code in (200, 204)
    wait_for(lambda: not throttled(apis[2]), timeout=10)


def test_two_hundred_alias_flips_through_different_nodes_under_load(cluster: Cluster, apis: Apis) -> None:
    name = unique("flip")
    deploy_versions(apis[0], name, 2)
    assert apis[0].put(f"/v1/functions/{name}/aliases/prod", json={"version": 1}).status_code == 201
    for api in apis:
        wait_for(lambda api=api: version_of(api, f"{name}:prod") == 1, timeout=5)
    seen: list[tuple[float, float, int, int]] = []  # (sent, answered, node, version)
    failures: list[str] = []
    stop = threading.Event()

    def load(index: int) -> None:
        with cluster.client(cluster.nodes[index]) as api:
            while not stop.is_set():
                sent = time.monotonic()
                response = api.post(f"/v1/functions/{name}:prod/invoke", json={})
                if response.status_code != 200:
                    failures.append(response.text)
                    continue
                seen.append((sent, time.monotonic(), index, int(response.headers["x-turnout-version"])))

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(3)]
    for thread in threads:
        thread.start()
    acks: list[tuple[float, float, int]] = []  # (asked, acknowledged, target)
    try:
        for i in range(200):
            target = 2 if i % 2 == 0 else 1
            asked = time.monotonic()
            response = apis[i % 3].put(f"/v1/functions/{name}/aliases/prod", json={"version": target})
            assert response.status_code == 200, response.text
            acks.append((asked, time.monotonic(), target))
            time.sleep(0.02)  # ~25 flips/s: each flip is in force long enough to be observed
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == []
    # A request sent more than the goal after a flip was acknowledged, and before the next flip, must be
    # routed by it, on every node. The benchmark (benchmarks/cluster.py) measures the p99 itself.
    goal = 0.1  # the benchmark holds p99 to 50 ms; here a margin for a busy CI machine
    stale = []
    # (until the next flip was asked for: a node may apply that one before it is acknowledged)
    for (_, acked, target), (next_asked, _, _) in zip(acks, [*acks[1:], (float("inf"), 0, 0)], strict=True):
        for sent, _, node, version in seen:
            if acked + goal <= sent < next_asked and version != target:
                stale.append((node, round(sent - acked, 3)))
    assert stale == [], stale[:10]
    assert len(seen) > 300 and {node for _, _, node, _ in seen} == {0, 1, 2}


def test_a_node_started_later_serves_everything_and_a_dead_one_is_shown_dead(
    cluster: Cluster, apis: Apis
) -> None:
    one = apis[0]
    name = unique("later")
    deploy_versions(one, name, 2)
    assert one.put(f"/v1/functions/{name}/aliases/prod", json={"version": 2}).status_code == 201
    late = cluster.start(cluster.add("node4"))
    try:
        with cluster.client(late) as api:
            assert version_of(api, f"{name}:prod") == 2
            assert version_of(api, f"{name}:1") == 1
    finally:
        late.kill()
    wait_for(
        lambda: {n["name"]: n["state"] for n in one.get("/v1/nodes").json()["nodes"]}.get("node4") == "dead",
        timeout=15,
        what="node4 shown dead",
    )
    cluster.nodes.remove(late)


def test_each_schedule_tick_runs_once_cluster_wide_with_a_node_killed_and_restarted(
    cluster: Cluster, apis: list[httpx.Client], collector: Collector
) -> None:
    one = apis[0]
    name = unique("tick")
    sha = one.post("/v1/bundles", content=make_zip({"app.py": REPORTER})).json()["sha256"]
    env = {"COLLECTOR": collector.url}
    one.put(
        f"/v1/functions/{name}", json={"bundle_sha256": sha, "handler": "app.handler", "environment": env}
    )
    assert one.post(f"/v1/functions/{name}/versions", json={}).status_code == 201
    schedule = unique("every-second")
    made = one.post(
        "/v1/schedules", json={"name": schedule, "expression": "rate(1 second)", "function": f"{name}:1"}
    )
    assert made.status_code == 201, made.text

    def ticks() -> list[str]:
        return [
            b["event"]["time"]
            for b in list(collector.bodies)
            if b["event"].get("resources", [""])[0].endswith(schedule)
        ]

    started = time.monotonic()
    wait_for(lambda: len(ticks()) >= 5, timeout=30, what="5 ticks")
    victim = cluster.nodes[1]
    count = len(ticks())
    wait_for(lambda: len(ticks()) > count, timeout=5)  # right after a tick: the next is ~1 s away
    victim.kill()
    wait_for(lambda: time.monotonic() - started > 15, timeout=30)
    cluster.start(victim)
    wait_for(lambda: time.monotonic() - started > 30, timeout=40)
    assert one.delete(f"/v1/schedules/{schedule}").status_code == 204
    found = ticks()
    duplicated = [t for t, n in Counter(found).items() if n > 1]
    assert duplicated == [], duplicated
    assert len(found) >= 27  # one per second for ~30 s (the first came after the schedule was made)


def test_async_events_across_nodes_survive_a_node_killed_mid_way(
    cluster: Cluster, apis: list[httpx.Client], collector: Collector
) -> None:
    name = unique("queue")
    sha = apis[0].post("/v1/bundles", content=make_zip({"app.py": REPORTER})).json()["sha256"]
    env = {"COLLECTOR": collector.url, "SLEEP_S": "0.02"}
    apis[0].put(
        f"/v1/functions/{name}", json={"bundle_sha256": sha, "handler": "app.handler", "environment": env}
    )
    assert apis[0].post(f"/v1/functions/{name}/versions", json={}).status_code == 201
    accepted = []
    for i in range(500):
        response = apis[i % 3].post(f"/v1/functions/{name}:1/invoke?async=true", json={"n": i})
        assert response.status_code == 202, response.text
        accepted.append(i)

    def done() -> set[int]:
        return {
            b["event"]["n"]
            for b in list(collector.bodies)
            if isinstance(b["event"], dict) and "n" in b["event"]
        }

    wait_for(lambda: len(done()) >= 100, timeout=60, what="100 events done")
    victim = cluster.nodes[1]
    victim.kill()  # SIGKILL mid-way: its leased events must run elsewhere
    wait_for(lambda: len(done()) == 500, timeout=120, what="all 500 events")
    runs = Counter(
        b["event"]["n"] for b in collector.bodies if isinstance(b["event"], dict) and "n" in b["event"]
    )
    duplicates = sum(n - 1 for n in runs.values())
    print(f"async across nodes: 500 events, none lost, {duplicates} run twice")  # reported, at-least-once
    assert set(runs) == set(accepted)
    cluster.start(victim)


def test_postgres_down_for_thirty_seconds_warm_traffic_answers_and_the_node_catches_up(
    cluster: Cluster,
    apis: list[httpx.Client],
) -> None:
    one = apis[0]
    proxy = PgProxy(("127.0.0.1", 5432))
    cut_off = cluster.start(cluster.add("cut-off", database_url=proxy.url(cluster.database_url)))
    three = cluster.client(cut_off)
    name = unique("outage")
    deploy_versions(one, name, 2)
    assert one.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1}).status_code == 201
    wait_for(lambda: version_of(three, f"{name}:prod") == 1, timeout=5)
    proxy.cut()
    try:
        cut_at = time.monotonic()
        refused = three.put(f"/v1/functions/{name}/aliases/prod", json={"version": 2})
        assert (refused.status_code, error_code(refused)) == (503, "StoreUnavailable")
        assert one.put(f"/v1/functions/{name}/aliases/prod", json={"version": 2}).status_code == 200
        answered = 0
        while time.monotonic() - cut_at < 30:
            response = three.post(f"/v1/functions/{name}:prod/invoke", json={})
            assert response.status_code == 200, response.text
            assert response.headers["x-turnout-version"] == "1"  # from memory: it cannot hear the change
            answered += 1
            time.sleep(0.05)
        assert three.get("/v1/ready").json()["degraded"]  # ready (serving), degraded (no feed)
        assert three.get("/v1/functions").status_code == 503
    finally:
        proxy.restore()
    try:
        wait_for(lambda: version_of(three, f"{name}:prod") == 2, timeout=20, what="the node catching up")
        assert three.get("/v1/functions").status_code == 200
        wait_for(lambda: three.get("/v1/ready").json()["degraded"] == [], timeout=20)
        assert answered > 100
    finally:
        three.close()
        cut_off.stop()
        cluster.nodes.remove(cut_off)
        proxy.close()


def lease_holder(cluster: Cluster, function: str) -> str:
    """The node whose controller holds the running rollout's lease of ``function`` (read in the store)."""
    engine = create_engine(cluster.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            query = text(
                "SELECT r.lease_owner FROM rollouts r JOIN functions f ON f.id = r.function_id "
                "WHERE f.name = :name AND r.active_alias IS NOT NULL"
            )
            return str(conn.execute(query, {"name": function}).scalar_one())
    finally:
        engine.dispose()


def node_index(cluster: Cluster, node: str) -> int:
    return [s.extra_env["TURNOUT_NODE_NAME"] for s in cluster.nodes].index(node)


def test_a_failing_candidate_served_only_by_other_nodes_is_rolled_back_by_the_lease_holder(
    cluster: Cluster, apis: Apis
) -> None:
    name = unique("judge")
    baseline, candidate = two_versions(apis[0], name, versioned("v2", fail_rate=1.0))
    gates = {"max_error_rate_increase": 0.01, "min_invocations": 20}
    start(apis[0], name, to=candidate, strategy="canary", weight=10, bake_s=300, gates=gates, window_s=60)
    wait_for(lambda: status(apis[0], name)["state"] == "baking", timeout=30, what="the canary step")
    holder = node_index(cluster, wait_for(lambda: lease_holder(cluster, name), timeout=10))
    others = [i for i in range(3) if i != holder]
    stop, calls = threading.Event(), Counter[int]()
    first_failure: list[float] = []

    def traffic(index: int) -> None:
        while not stop.is_set():
            response = apis[index].post(f"/v1/functions/{name}:prod/invoke", json={})
            calls[index] += 1
            if response.headers.get("x-turnout-function-error") and not first_failure:
                first_failure.append(time.monotonic())

    threads = [threading.Thread(target=traffic, args=(i,), daemon=True) for i in others]
    for thread in threads:
        thread.start()
    try:
        final = finished(apis[holder], name, timeout=60)
        rolled_back_at = time.monotonic()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert final["state"] == "rolled-back", final["reason"]
    assert "relative_error_rate" in final["reason"]
    assert calls[holder] == 0 and all(calls[i] > 0 for i in others)
    rollback = apis[holder].get(f"/v1/functions/{name}/aliases/prod/history").json()["history"][0]
    figures = rollback["details"]["figures"]
    # the holder served nothing: every figure it judged came from the other nodes' published windows
    assert figures["candidate.invocations"] >= 20 and figures["candidate.error_rate"] == 1.0
    assert first_failure and rolled_back_at - first_failure[0] < 10
    for api in apis:
        wait_for(lambda api=api: version_of(api, f"{name}:prod") == baseline, timeout=5)


def test_killing_the_lease_holder_mid_rollout_another_node_finishes_it(cluster: Cluster, apis: Apis) -> None:
    name = unique("takeover")
    baseline, candidate = two_versions(apis[0], name, versioned("v2"))
    start(apis[0], name, to=candidate, strategy="linear", step=25, interval_s=2, no_gates=True)
    wait_for(lambda: status(apis[0], name)["step"] >= 1, timeout=30, what="the first step")
    holder = node_index(cluster, lease_holder(cluster, name))
    victim = cluster.nodes[holder]
    victim.kill()  # SIGKILL: its lease is freed once it is seen dead (TURNOUT_NODE_DEAD_AFTER_S)
    survivor = apis[(holder + 1) % 3]
    final = finished(survivor, name, timeout=90)
    cluster.start(victim)
    assert final["state"] == "succeeded", final["reason"]
    history = final["history"]
    takeovers = [h for h in history if h["action"] == "take-over"]
    assert (
        len(takeovers) >= 1 and f"from node {victim.extra_env['TURNOUT_NODE_NAME']}" in takeovers[0]["reason"]
    )
    steps = [h["step"] for h in history if h["action"] == "set-weights"]
    assert steps == sorted(set(steps)), steps  # no step repeated across the takeover
    assert alias_target(survivor, name) == str(candidate)  # on exactly one of the two versions
    assert baseline != candidate


def test_behind_haproxy_requests_spread_and_a_graceful_restart_fails_none(
    cluster: Cluster, apis: Apis, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = unique("balanced")
    deploy_versions(apis[0], name, 1)
    assert apis[0].put(f"/v1/functions/{name}/aliases/prod", json={"version": 1}).status_code == 201
    with haproxy(tmp_path_factory.mktemp("lb"), [s.port for s in cluster.nodes[:3]]) as lb:
        answered_by = {httpx.get(lb + "/v1/health").json()["node"] for _ in range(30)}
        assert answered_by == {"node1", "node2", "node3"}
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=lb, headers={"Authorization": f"Bearer {cluster.token}"}) as api:
                while not stop.is_set():
                    statuses[api.post(f"/v1/functions/{name}:prod/invoke", json={}).status_code] += 1

        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        victim = cluster.nodes[1]
        try:
            wait_for(lambda: sum(statuses.values()) > 50, timeout=20)
            assert victim.process is not None
            victim.process.send_signal(signal.SIGTERM)  # /v1/ready: 503 for TURNOUT_DRAIN_S, still serving
            draining = wait_for(
                lambda: (r := httpx.get(victim.url + "/v1/ready", timeout=2)).status_code == 503 and r.json(),
                timeout=3,
                what="the readiness probe to say draining",
            )
            assert draining["reasons"] == ["draining for shutdown"]
            victim.process.wait(30)
            cluster.start(victim)
            wait_for(
                lambda: "node2" in {httpx.get(lb + "/v1/health").json()["node"] for _ in range(6)},
                timeout=20,
                what="node2 back behind the load balancer",
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 200


def test_a_node_stopped_cleanly_is_shown_stopped(cluster: Cluster, apis: Apis) -> None:
    """A node stopped with SIGTERM says so: shown stopped, not dead."""
    one = apis[0]
    extra: Server = cluster.start(cluster.add("node5"))
    extra.stop()
    cluster.nodes.remove(extra)
    states = {n["name"]: n["state"] for n in one.get("/v1/nodes").json()["nodes"]}
    assert states["node5"] == "stopped"
