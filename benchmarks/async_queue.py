"""Async invocation benchmarks (issue 6): events/s through the durable queue, enqueue-to-start latency.

Run from the repository root:

    .venv/bin/python benchmarks/async_queue.py             # both backends, ~1-2 minutes
    .venv/bin/python benchmarks/async_queue.py --quick     # smoke run
    .venv/bin/python benchmarks/async_queue.py --backend sqlite

PostgreSQL is $TURNOUT_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); each
run gets a fresh schema, dropped afterwards (tests/store/pg.py).

Per backend, one `turnout serve` with default settings and a no-op function (`return None`), and:

  a) throughput: N events enqueued by C concurrent clients (`POST …/invoke?async=true`), timed from the
     first enqueue until the store shows every one succeeded (events/s end to end); the enqueue rate
     (202s/s) alone is shown too. Baseline in the same run: N synchronous invokes of the same function by
     the same C clients (req/s). Async work may use half the function's concurrency limit (8 of 16).
  b) latency: events enqueued one at a time, 20 ms apart, on an idle queue; enqueue-to-start is the
     attempt's `started_at` minus the event's `enqueued_at` (both from the server's clock: the time the
     event waits in the queue until the dispatcher hands it to a worker). Baseline: the round trip of
     a synchronous invoke of the same function, sequential, same client.

The clients are Python (httpx, asyncio) in this process; the header shows the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "src", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from control_plane import BenchServer, Series, fmt, machine, render  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.store.pg import postgres_schema  # noqa: E402
from tests.support import deploy, publish  # noqa: E402

from turnout.store import open_store  # noqa: E402
from turnout.store.schema import events  # noqa: E402

NOOP = {"app.py": "def handler(event, context):\n    return None\n"}
FN = "noop"


async def _fire(url: str, token: str, path: str, n: int, clients: int, expect: int) -> float:
    """Send ``n`` POSTs from ``clients`` concurrent connections; returns the seconds it took."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            response = await client.post(path, json={"i": i})
            if response.status_code != expect:
                raise RuntimeError(f"{path} -> {response.status_code}: {response.text[:300]}")

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        return time.perf_counter() - start


def _succeeded(store: Any) -> int:
    with store.read() as tx:
        query = select(func.count()).where(events.c.function == FN, events.c.status == "succeeded")
        return int(tx.conn.execute(query).scalar_one())


def _purge(store: Any) -> None:
    with store.write() as tx:
        tx.conn.execute(events.delete().where(events.c.function == FN))


def bench_backend(
    label: str, root: Path, database_url: str, n: int, clients: int, samples: int
) -> dict[str, Any]:
    server = BenchServer(root / label / "data", database_url=database_url)
    server.start(timeout=120)
    store = open_store(database_url or f"sqlite:///{server.data_dir / 'turnout.db'}", migrate=False)
    out: dict[str, Any] = {}
    try:
        with server.client() as api:
            deploy(api, FN, NOOP)
            publish(api, FN)
            path = f"/v1/functions/{FN}/invoke"
            # warm-up: workers up to the async half and the sync clients
            asyncio.run(_fire(server.url, server.token, path, 200, clients, 200))
            asyncio.run(_fire(server.url, server.token, path + "?async=true", 200, clients, 202))
            while _succeeded(store) < 200:
                time.sleep(0.05)
            _purge(store)

            # a) throughput, baseline first
            sync_s = asyncio.run(_fire(server.url, server.token, path, n, clients, 200))
            start = time.perf_counter()
            enqueue_s = asyncio.run(_fire(server.url, server.token, path + "?async=true", n, clients, 202))
            while _succeeded(store) < n:
                time.sleep(0.01)
            total_s = time.perf_counter() - start
            out["sync_rps"] = n / sync_s
            out["enqueue_rps"] = n / enqueue_s
            out["async_eps"] = n / total_s
            _purge(store)

            # b) latency on an idle queue, baseline interleaved
            sync_rt, queue_wait = Series("sync"), Series("queue")
            ids: list[str] = []
            for _ in range(samples):
                t0 = time.perf_counter_ns()
                assert api.post(path, json={}).status_code == 200
                sync_rt.add_ns(time.perf_counter_ns() - t0)
                ids.append(api.post(path + "?async=true", json={}).json()["request_id"])
                time.sleep(0.02)
            while _succeeded(store) < samples:
                time.sleep(0.05)
            for event_id in ids:
                event = api.get(f"/v1/events/{event_id}").json()
                started = datetime.fromisoformat(event["attempt_log"][0]["started_at"])
                waited = started - datetime.fromisoformat(event["enqueued_at"])
                queue_wait.samples.append(waited.total_seconds() * 1000)
            out["sync"], out["queue"] = sync_rt, queue_wait
    finally:
        store.close()
        server.stop()
    return out


@contextmanager
def postgres_url() -> Iterator[str]:
    with postgres_schema(timezone=None) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few events, a smoke run")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), action="append")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    n, samples = (300, 40) if args.quick else (2000, 200)
    info = machine()
    print("Turnout async queue benchmark", "(quick)" if args.quick else "(full)")
    print(f"date     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    for key, value in info.items():
        print(f"{key:<8} {value}")
    print(f"events   {n} for throughput, {args.clients} clients; {samples} for latency\n")
    rows_t: list[list[str]] = []
    rows_l: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="turnout-async-bench-") as tmp:
        for backend in args.backend or ["sqlite", "postgresql"]:
            context = postgres_url() if backend == "postgresql" else nullcontext("")
            with context as url:
                r = bench_backend(backend, Path(tmp), url, n, args.clients, samples)
            rows_t.append(
                [
                    backend,
                    f"{r['sync_rps']:.0f}",
                    f"{r['enqueue_rps']:.0f}",
                    f"{r['async_eps']:.0f}",
                    f"{r['async_eps'] / r['sync_rps'] * 100:.0f}%",
                ]
            )
            sync, queue = r["sync"], r["queue"]
            rows_l.append([backend, fmt(sync.p50), fmt(sync.p99), fmt(queue.p50), fmt(queue.p99)])
    print("a) throughput to a no-op function")
    print(
        render(
            rows_t,
            [
                "backend",
                "sync invoke req/s (baseline)",
                "enqueue 202/s",
                "async events/s end to end",
                "async / sync",
            ],
        )
    )
    print("\nb) latency, ms")
    print(
        render(
            rows_l,
            [
                "backend",
                "sync invoke p50 (baseline)",
                "sync p99",
                "enqueue-to-start p50",
                "enqueue-to-start p99",
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
