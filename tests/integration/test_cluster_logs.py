"""Two real `turnout serve` nodes on one PostgreSQL database: logs of every node through any node,
`GET /v1/nodes` and `turnout nodes`, a node that stops answering, a node that dies."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.cluster_support import fresh_database, shared_key
from tests.support import Server, deploy, publish, unique, wait_for
from turnout.cli.main import app

CHATTY = "def handler(event, context):\n    print('ran', event['n'])\n    return event['n']\n"
CLUSTER = {
    "TURNOUT_NODE_HEARTBEAT_S": "1",
    # 5 s: short enough for the test to see a killed node turn dead, long enough that the node asked right
    # after the kill still counts the killed one as alive and tries it (what `missing_nodes` is about)
    "TURNOUT_NODE_DEAD_AFTER_S": "5",
    "TURNOUT_PEER_TIMEOUT_MS": "1000",
}


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("turnout_peers") as url:
        yield url


@pytest.fixture
def nodes(database: str, tmp_path: Path) -> Iterator[tuple[Server, Server, str]]:
    """Node n1 with function FN published (version 1), then node n2 on the same store."""
    env = {**CLUSTER, **shared_key(tmp_path)}
    n1 = Server(tmp_path / "n1", database_url=database, extra_env={**env, "TURNOUT_NODE_NAME": "n1"})
    n2 = Server(tmp_path / "n2", database_url=database, extra_env={**env, "TURNOUT_NODE_NAME": "n2"})
    try:
        n1.start(timeout=60)
        name = unique("spread")
        with n1.client() as api:
            deploy(api, name, {"app.py": CHATTY})
            assert publish(api, name)["version"] == 1
        n2.start(timeout=60)
        yield n1, n2, name
    finally:
        n2.kill()
        n1.stop()


def get(server: Server, token: str, path: str, **params: Any) -> dict[str, Any]:
    with server.client(token=token) as api:
        response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def states(server: Server, token: str) -> dict[str, str]:
    return {n["name"]: n["state"] for n in get(server, token, "/v1/nodes")["nodes"]}


def invoke(server: Server, token: str, name: str, n: int) -> str:
    with server.client(token=token) as api:
        response = api.post(f"/v1/functions/{name}:1/invoke", json={"n": n})
    assert response.status_code == 200, response.text
    assert response.headers["x-turnout-version"] == "1"
    return response.headers["x-turnout-request-id"]


def pages(servers: list[Server], token: str, name: str, limit: int, after: str = "0") -> list[dict[str, Any]]:
    """Every record from the start, ``limit`` at a time, asking the servers in turn with each `next`."""
    found: list[dict[str, Any]] = []
    for turn in range(50):
        page = get(
            servers[turn % len(servers)], token, f"/v1/functions/{name}/logs", after=after, limit=limit
        )
        assert page["missing_nodes"] == []
        if not page["records"]:
            return found
        found += page["records"]
        after = page["next"]
    raise AssertionError("paging never ended")


def cli(server: Server, token: str, *args: str) -> Any:
    env = {"TURNOUT_URL": server.url, "TURNOUT_TOKEN": token, "COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(app, list(args), env=env)


def test_logs_of_every_node_through_any_node_and_nodes_that_stop_answering(
    nodes: tuple[Server, Server, str],
) -> None:
    n1, n2, name = nodes
    token = n1.token  # tokens are shared through the store: n2 checks n1's admin token
    wait_for(lambda: states(n2, token) == {"n1": "alive", "n2": "alive"}, timeout=30, what="both nodes alive")
    listed = cli(n1, token, "nodes", "-o", "json")
    assert listed.exit_code == 0, listed.output
    assert {n["name"]: n["state"] for n in json.loads(listed.output)["nodes"]} == {
        "n1": "alive",
        "n2": "alive",
    }
    table = cli(n2, token, "nodes")
    assert table.exit_code == 0, table.output
    assert "n1" in table.output and "n2 *" in table.output and table.output.count("alive") == 2

    ran = [(invoke(server, token, name, n), server) for n, server in enumerate([n1, n2, n1, n2, n2])]
    expected = [(request_id, "n1" if server is n1 else "n2") for request_id, server in ran]
    for server in (n1, n2):
        page = wait_for(
            lambda s=server: (
                (p := get(s, token, f"/v1/functions/{name}/logs")) and len(p["records"]) == 5 and p
            ),
            timeout=30,
            what="the records of both nodes",
        )
        assert [(r["request_id"], r["node"]) for r in page["records"]] == expected  # in time order
        times = [r["time"] for r in page["records"]]
        assert times == sorted(times)
        assert sorted(page["nodes"]) == ["n1", "n2"] and page["missing_nodes"] == []
        assert [r["text"] for r in page["records"]] == [f"ran {n}\n" for n in range(5)]
        newest = get(server, token, f"/v1/functions/{name}/logs", limit=2)
        assert [r["request_id"] for r in newest["records"]] == [i for i, _ in expected[3:]]
        only_n1 = get(server, token, f"/v1/functions/{name}/logs", request_id=expected[2][0])
        assert [(r["request_id"], r["node"]) for r in only_n1["records"]] == [expected[2]]

    for limit in (1, 2, 3):  # paging with `next`, through either node: each record once, in order
        assert [(r["request_id"], r["node"]) for r in pages([n1, n2], token, name, limit)] == expected

    following = get(n1, token, f"/v1/functions/{name}/logs")["next"]  # as `turnout logs --follow` does
    later = invoke(n2, token, name, 5)
    page = wait_for(
        lambda: (p := get(n1, token, f"/v1/functions/{name}/logs", after=following))["records"] and p,
        timeout=30,
        what="the new record",
    )
    assert [(r["request_id"], r["node"]) for r in page["records"]] == [(later, "n2")]
    assert get(n2, token, f"/v1/functions/{name}/logs", after=page["next"])["records"] == []

    printed = cli(n1, token, "logs", name)
    assert printed.exit_code == 0, printed.output
    assert any(expected[1][0] in line and " n2 " in line for line in printed.output.splitlines())

    # n2 stops answering (frozen, its port still open): n1 waits TURNOUT_PEER_TIMEOUT_MS, then answers
    # its own records and says whose are missing
    assert n2.process is not None
    n2.process.send_signal(signal.SIGSTOP)
    try:
        frozen = get(n1, token, f"/v1/functions/{name}/logs")
    finally:
        n2.process.send_signal(signal.SIGCONT)
    assert [r["node"] for r in frozen["records"]] == ["n1", "n1"]
    assert [(m["node"], m["reason"]) for m in frozen["missing_nodes"]] == [
        ("n2", "did not answer within 1 s")
    ]
    wait_for(
        lambda: not get(n1, token, f"/v1/functions/{name}/logs")["missing_nodes"],
        timeout=30,
        what="n2 answering again",
    )

    n2.kill()  # kill -9: n1 still counts it alive until its heartbeat is TURNOUT_NODE_DEAD_AFTER_S old
    gone = get(n1, token, f"/v1/functions/{name}/logs")
    assert [(r["request_id"], r["node"]) for r in gone["records"]] == [expected[0], expected[2]]
    assert [m["node"] for m in gone["missing_nodes"]] == ["n2"]
    assert gone["nodes"] == ["n1"]
    warned = cli(n1, token, "logs", name)
    assert warned.exit_code == 0, warned.output
    assert "warning: node n2" in warned.stderr and expected[0][0] in warned.stdout

    wait_for(lambda: states(n1, token)["n2"] == "dead", timeout=30, what="n2 to be dead")
    listed = cli(n1, token, "nodes", "-o", "json")
    assert {n["name"]: n["state"] for n in json.loads(listed.output)["nodes"]} == {
        "n1": "alive",
        "n2": "dead",
    }
