"""Bursts queued, idle workers bounded (issue 17, items 3 and 5), against real `turnout serve` processes.

Run from the repository root:

    .venv/bin/python benchmarks/queueing.py            # both parts (~3 min)
    .venv/bin/python benchmarks/queueing.py --quick    # 4 s of overload, 20 functions × 10 versions
    .venv/bin/python benchmarks/queueing.py --only a   # a (queue wait) or b (idle workers)

a) Queue wait under a 4× overload: a server with the defaults (the machine's concurrency per function),
   a function that sleeps 50 ms, and 4 × the concurrency limit of closed-loop clients (each sends its next
   request as soon as its last is answered), for a fixed time. Every request past the limit waits in the
   version's queue; it prints the server's queue waits (p50/p99 of the last 1,000 that queued, from
   `GET …/workers`, and the count from /metrics), the clients' latency, throughput and any 429s.
b) Idle workers after 1,000 alias moves: 100 functions with 10 versions each; an alias of each moves
   through its 10 versions (every move warms a worker for the version it moves to), once with the default
   cap on idle workers and once with a cap of 50. It prints the idle workers right after the moves, how
   long the node took to be back under the cap, and the worker processes alive then (counted in /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "src", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from control_plane import machine  # noqa: E402
from tests.support import Server, deploy, publish, wait_for  # noqa: E402

SLEEPER = "import time\n\n\ndef handler(event, context):\n    time.sleep(0.05)\n    return 1\n"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, round(q * len(ordered))) - 1]


async def _client(
    url: str, token: str, name: str, until: float, latencies: list[float], codes: list[int]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as api:
        while time.monotonic() < until:
            began = time.monotonic()
            answer = await api.post(f"/v1/functions/{name}/invoke", params={"qualifier": "1"}, json={})
            latencies.append((time.monotonic() - began) * 1000.0)
            codes.append(answer.status_code)


async def _overload(
    url: str, token: str, name: str, clients: int, seconds: float
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    codes: list[int] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(_client(url, token, name, until, latencies, codes) for _ in range(clients)))
    return latencies, codes


def queue_wait(seconds: float) -> None:
    server = Server(Path(tempfile.mkdtemp(prefix="turnout-queue-bench-")) / "data").start()
    try:
        with server.client() as api:
            deploy(api, "sleeper", {"app.py": SLEEPER})
            publish(api, "sleeper")
            limit = api.get("/v1/functions/sleeper/concurrency").json()["limit"]
            clients = 4 * limit
            asyncio.run(_overload(server.url, server.token, "sleeper", limit, 1.0))  # warm the workers
            began = time.monotonic()
            latencies, codes = asyncio.run(_overload(server.url, server.token, "sleeper", clients, seconds))
            elapsed = time.monotonic() - began
            pool = api.get("/v1/functions/sleeper/workers").json()["pools"][0]
            count = [
                line.split()[-1]
                for line in api.get("/metrics").text.splitlines()
                if line.startswith("turnout_queue_wait_seconds_count") and 'function="sleeper"' in line
            ]
        print(f"a) concurrency limit {limit}, {clients} clients (4x), 50 ms function, {seconds:g} s")
        print(
            f"   requests {len(codes)} ({len(codes) / elapsed:.0f}/s), 200: {codes.count(200)}, "
            f"429: {codes.count(429)}, other: {len(codes) - codes.count(200) - codes.count(429)}"
        )
        print(
            f"   server queue wait (last 1,000 queued): p50 {pool['queue_wait_p50_ms']:.1f} ms, "
            f"p99 {pool['queue_wait_p99_ms']:.1f} ms; queued in all: {count[0] if count else '-'}"
        )
        print(
            f"   client latency: p50 {_percentile(latencies, 0.5):.1f} ms, "
            f"p99 {_percentile(latencies, 0.99):.1f} ms, mean {statistics.fmean(latencies):.1f} ms"
        )
    finally:
        server.stop()


def _workers(root: int) -> int:
    """Living processes below ``root`` (from /proc), less the zygote."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = 0, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found += 1
            todo.append(child)
    return found - 1


def idle_after_moves(functions: int, cap: int | None) -> None:
    env = {} if cap is None else {"TURNOUT_WORKER_IDLE_CAP": str(cap)}
    server = Server(Path(tempfile.mkdtemp(prefix="turnout-idle-bench-")) / "data", extra_env=env).start()
    try:
        assert server.process is not None
        with server.client() as api:
            names = [f"fn{i}" for i in range(functions)]
            for name in names:
                for version in range(1, 11):
                    deploy(api, name, {"app.py": f"def handler(event, context):\n    return {version}\n"})
                    publish(api, name)
            for name in names:
                api.put(f"/v1/functions/{name}/aliases/live", json={"version": 1})
            began = time.monotonic()
            for version in range(1, 11):
                for name in names:
                    api.put(f"/v1/functions/{name}/aliases/live", json={"version": version})
            moves = time.monotonic() - began

            def idle() -> int:
                return sum(
                    p["idle"] for n in names for p in api.get(f"/v1/functions/{n}/workers").json()["pools"]
                )

            right_after = idle()
            settled = time.monotonic()
            effective = cap if cap is not None else _default_cap()
            wait_for(lambda: idle() <= effective, timeout=60, interval=0.1)
            took = time.monotonic() - settled
            print(
                f"b) cap {effective} ({'default' if cap is None else 'TURNOUT_WORKER_IDLE_CAP'}): "
                f"{functions * 10} alias moves in {moves:.1f} s; idle right after {right_after}, "
                f"under the cap {took:.1f} s later; idle {idle()}, "
                f"worker processes {_workers(server.process.pid)}"
            )
    finally:
        server.stop()


def _default_cap() -> int:
    from turnout.runtime.capacity import Machine, default_idle_cap

    return default_idle_cap(Machine.this_one())


def _memory_mib() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=["a", "b"])
    args = parser.parse_args()
    info = machine()
    print(
        f"machine: nproc {info['nproc']}, {info['cpu']}, Python {info['python']}, load {info['loadavg']}, "
        f"commit {info['commit']}, memory {_memory_mib()} MiB"
    )
    only = set(args.only or ["a", "b"])
    if "a" in only:
        queue_wait(4.0 if args.quick else 15.0)
    if "b" in only:
        functions = 20 if args.quick else 100
        idle_after_moves(functions, None)
        idle_after_moves(functions, 50)


if __name__ == "__main__":
    main()
