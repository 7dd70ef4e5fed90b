"""Cluster benchmarks (issue 11, acceptance item 6): three real nodes on one PostgreSQL database.

Run from the repository root (PostgreSQL at TURNOUT_TEST_POSTGRES_URL, default 127.0.0.1:5432/test):

    .venv/bin/python benchmarks/cluster.py             # full run, ~3 minutes
    .venv/bin/python benchmarks/cluster.py --quick     # smoke run
    .venv/bin/python benchmarks/cluster.py --only a    # one part (a, b or c; repeatable)

a) Alias propagation. Probes invoke FN:prod on every node, one every 2 ms (one keep-alive connection each);
   a flipper moves prod between versions 1 and 2 through node 1, 2, 3 in turn. For each flip and node:
   the time from the API's acknowledgement to the first request sent on that node after which every
   request answers the new version. Goal: p99 <= 50 ms on the nodes that did not take the change.
   Baseline (same run): the node that took the change (its table is refreshed before it answers).
b) Cross-node automatic rollback: a 10% canary whose candidate starts failing, with ~200 req/s spread over
   three nodes through the load balancer (the controller's node gets a third of it). Time from the first
   failure to the alias back on the baseline. Goal <= 10 s. Baseline: the same on one node.
c) Invoke throughput of three nodes behind HAProxy (examples/cluster/haproxy.cfg) against one node
   without it (wrk, 32 connections), when `haproxy` and `wrk` are on PATH.

The script prints PASS/MISS per goal; its exit status does not depend on the goals.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "src", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from control_plane import machine, render  # noqa: E402
from tests.integration.cluster_support import Cluster, fresh_database, haproxy  # noqa: E402
from tests.support import Server, make_zip, wait_for  # noqa: E402

VERSIONED = "VERSION = {n}\n\ndef handler(event, context):\n    return {{'v': VERSION}}\n"
FAILING = """
VERSION = {n}

def handler(event, context):
    raise RuntimeError("the candidate is broken")
"""


PROBE_S = 0.002


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


@contextmanager
def three_nodes(root: Path, **env: str) -> Iterator[Cluster]:
    with fresh_database("turnout_bench") as url:
        cluster = Cluster(root, url)
        try:
            for name in ("node1", "node2", "node3"):
                cluster.start(cluster.add(name, **env))
            yield cluster
        finally:
            cluster.stop()


def deploy(api: httpx.Client, name: str, sources: list[str], **config: Any) -> None:
    for source in sources:
        sha = api.post("/v1/bundles", content=make_zip({"app.py": source})).json()["sha256"]
        body = {"bundle_sha256": sha, "handler": "app.handler", **config}
        assert api.put(f"/v1/functions/{name}", json=body).status_code in (200, 201)
        assert api.post(f"/v1/functions/{name}/versions", json={}).status_code == 201


# --------------------------------------------------------------------------------------------------
# a) alias propagation


def bench_propagation(root: Path, flips: int) -> dict[str, Any]:
    with three_nodes(root / "a") as cluster:
        apis = [cluster.client(s) for s in cluster.nodes]
        name = "bench-flip"
        deploy(apis[0], name, [VERSIONED.format(n=1), VERSIONED.format(n=2)])
        apis[0].put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
        seen: list[list[tuple[float, int]]] = [[], [], []]
        stop = threading.Event()

        def probe(index: int) -> None:
            with cluster.client(cluster.nodes[index]) as api:
                while not stop.is_set():
                    sent = time.monotonic()
                    response = api.post(f"/v1/functions/{name}:prod/invoke", content=b"{}")
                    seen[index].append((sent, int(response.headers.get("x-turnout-version", "0"))))
                    # one probe every PROBE_S at most: a resolution far below the goal, without the probes
                    # themselves saturating the machine's cores
                    time.sleep(max(0.0, sent + PROBE_S - time.monotonic()))

        threads = [threading.Thread(target=probe, args=(i,), daemon=True) for i in range(3)]
        for thread in threads:
            thread.start()
        for i in range(3):
            wait_for(lambda i=i: len(seen[i]) > 50, timeout=30)
        acks: list[tuple[float, float, int, int]] = []  # (sent, acknowledged, node that took it, target)
        for k in range(flips):
            node, target = k % 3, 2 if k % 2 == 0 else 1
            asked = time.monotonic()
            response = apis[node].put(f"/v1/functions/{name}/aliases/prod", json={"version": target})
            assert response.status_code == 200, response.text
            acks.append((asked, time.monotonic(), node, target))
            time.sleep(0.25)
        stop.set()
        for thread in threads:
            thread.join(10)
        for api in apis:
            api.close()
    remote: list[float] = []
    local: list[float] = []
    for k, (_, acked, taker, target) in enumerate(acks):
        # until the next change was asked for (a node may apply it before that one is acknowledged)
        until = acks[k + 1][0] if k + 1 < len(acks) else float("inf")
        for index in range(3):
            delay = _visible_after(seen[index], acked, until, target)
            if delay is not None:
                (local if index == taker else remote).append(delay * 1000)
    return {"flips": flips, "remote_ms": remote, "local_ms": local, "requests": sum(map(len, seen))}


def _visible_after(samples: list[tuple[float, int]], acked: float, until: float, target: int) -> float | None:
    """Seconds from the acknowledgement to the first request after which every request saw ``target``."""
    window = [(sent, version) for sent, version in samples if acked <= sent < until]
    if not window:
        return None
    stale = [i for i, (_, version) in enumerate(window) if version != target]
    if not stale:
        return 0.0
    if stale[-1] + 1 >= len(window):
        return until - acked  # never caught up before the next flip
    return window[stale[-1] + 1][0] - acked


# --------------------------------------------------------------------------------------------------
# b) cross-node automatic rollback


class Paced:
    """~``rate`` invocations per second of FN:prod spread over ``urls``, sent open-loop (one thread per
    URL, each paced by the clock); remembers when the first failure came back."""

    def __init__(self, urls: list[str], token: str, name: str, rate: float) -> None:
        self.first_failure: float | None = None
        self.sent = 0
        self._stop = threading.Event()
        interval = len(urls) / rate
        self._threads = [
            threading.Thread(target=self._run, args=(url, token, name, interval), daemon=True) for url in urls
        ]

    def __enter__(self) -> Paced:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self, url: str, token: str, name: str, interval: float) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
            due = time.monotonic()
            while not self._stop.is_set():
                response = api.post(f"/v1/functions/{name}:prod/invoke", content=b"{}")
                self.sent += 1
                if response.headers.get("x-turnout-function-error") and self.first_failure is None:
                    self.first_failure = time.monotonic()
                due += interval
                time.sleep(max(0.0, due - time.monotonic()))


def one_rollback(api: httpx.Client, urls: list[str], token: str, name: str, rate: float) -> float:
    """Seconds from the first failed user request to the alias back on the baseline alone."""
    deploy(api, name, [VERSIONED.format(n=1), FAILING.format(n=2)])
    api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
    body = {
        "to": 2,
        "strategy": "canary",
        "weight": 10,
        "bake_s": 600,
        "gates": {"max_error_rate_increase": 0.01, "min_invocations": 20},
        "window_s": 30,
    }
    with Paced(urls, token, name, rate) as load:
        time.sleep(2)  # the baseline has a window of its own before the canary starts
        assert api.post(f"/v1/functions/{name}/aliases/prod/rollout", json=body).status_code == 201
        wait_for(
            lambda: api.get(f"/v1/functions/{name}/aliases/prod/rollout").json()["state"] == "rolled-back",
            timeout=60,
            interval=0.02,
        )
        back = time.monotonic()
        assert load.first_failure is not None
        return back - load.first_failure


def bench_rollback(root: Path, repeat: int, rate: float) -> dict[str, Any]:
    cluster_s: list[float] = []
    single_s: list[float] = []
    with three_nodes(root / "b") as cluster:
        apis = [cluster.client(s) for s in cluster.nodes]
        single = Server(root / "b-single" / "data")  # baseline: one node on its own (SQLite)
        single.start(timeout=60)
        try:
            with single.client() as solo:
                for k in range(repeat):  # interleaved
                    urls = [s.url for s in cluster.nodes]
                    cluster_s.append(one_rollback(apis[k % 3], urls, cluster.token, f"bench-rb-{k}", rate))
                    single_s.append(one_rollback(solo, [single.url], single.token, f"bench-rb-{k}", rate))
        finally:
            single.stop()
            for api in apis:
                api.close()
    return {"cluster_s": cluster_s, "single_s": single_s, "rate": rate}


# --------------------------------------------------------------------------------------------------
# c) throughput behind the load balancer


def wrk(url: str, token: str, seconds: float, folder: Path) -> float:
    script = folder / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", str(script), url], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"wrk printed no rate: {out}")


def bench_throughput(root: Path, seconds: float, rounds: int) -> dict[str, Any]:
    if not (shutil.which("haproxy") and shutil.which("wrk")):
        return {"skipped": "haproxy or wrk not on PATH"}
    with three_nodes(root / "c") as cluster:
        api = cluster.client(cluster.nodes[0])
        name = "bench-tp"
        deploy(api, name, [VERSIONED.format(n=1)])
        api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
        with haproxy(root, [s.port for s in cluster.nodes]) as lb:
            path = f"/v1/functions/{name}:prod/invoke"
            for server in [*cluster.nodes, None]:  # warm every node's pool
                target = lb if server is None else server.url
                wrk(target + path, cluster.token, 1, root)
            single, behind = [], []
            for _ in range(rounds):  # interleaved: the machine's noise hits both alike
                single.append(wrk(cluster.nodes[0].url + path, cluster.token, seconds, root))
                behind.append(wrk(lb + path, cluster.token, seconds, root))
        api.close()
    return {"single": single, "behind_lb": behind}


# --------------------------------------------------------------------------------------------------


@contextmanager
def _folder(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="turnout-cluster-bench-"))
    try:
        yield root
    finally:
        if keep:
            print("kept:", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=["a", "b", "c"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the data folders and server logs")
    args = parser.parse_args(argv)
    parts = args.only or ["a", "b", "c"]
    info = machine()
    print("machine:", json.dumps(info))
    summary: dict[str, Any] = {"machine": info}
    with _folder(args.keep) as root:
        if "a" in parts:
            a = bench_propagation(root, 30 if args.quick else 200)
            summary["a"] = a
            rows = []
            for label, values in (
                ("other nodes", a["remote_ms"]),
                ("node that took it (baseline)", a["local_ms"]),
            ):
                rows.append(
                    [
                        label,
                        str(len(values)),
                        f"{statistics.median(values):.1f}",
                        f"{percentile(values, 0.99):.1f}",
                        f"{max(values):.1f}",
                    ]
                )
            print(f"\na) alias propagation, {a['flips']} flips, {a['requests']} probe requests")
            print(render(rows, ["node", "flips seen", "p50 ms", "p99 ms", "max ms"]))
            p99 = percentile(a["remote_ms"], 0.99)
            print(f"goal p99 <= 50 ms on the other nodes: {'PASS' if p99 <= 50 else 'MISS'} ({p99:.1f} ms)")
        if "b" in parts:
            b = bench_rollback(root, 2 if args.quick else 5, 200.0)
            summary["b"] = b
            on3, on1 = statistics.median(b["cluster_s"]), statistics.median(b["single_s"])
            print(
                f"\nb) automatic rollback of a failing 10% canary at ~{b['rate']:.0f} req/s, "
                f"median of {len(b['cluster_s'])}"
            )
            rows = [
                ["3 nodes, traffic spread", f"{on3:.2f}", " ".join(f"{x:.2f}" for x in b["cluster_s"])],
                ["1 node (baseline)", f"{on1:.2f}", " ".join(f"{x:.2f}" for x in b["single_s"])],
            ]
            print(render(rows, ["setup", "median s", "runs"]))
            print(f"goal <= 10 s across nodes: {'PASS' if on3 <= 10 else 'MISS'} ({on3:.2f} s)")
        if "c" in parts:
            c = bench_throughput(root, 3 if args.quick else 5, 1 if args.quick else 3)
            summary["c"] = c
            if "skipped" in c:
                print("\nc) skipped:", c["skipped"])
            else:
                single, behind = statistics.median(c["single"]), statistics.median(c["behind_lb"])
                print("\nc) invoke throughput, wrk -c32, median of interleaved rounds")
                rows = [
                    ["one node, no LB", f"{single:,.0f}", "1.00"],
                    ["3 nodes behind HAProxy", f"{behind:,.0f}", f"{behind / single:.2f}"],
                ]
                print(render(rows, ["setup", "req/s", "ratio"]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
