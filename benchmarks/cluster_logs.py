"""Logs of every node (cluster mode): the cost of the fan-out in `GET /v1/functions/{fn}/logs`.

Run from the repository root:

    .venv/bin/python benchmarks/cluster_logs.py

Two `turnout serve` nodes on a fresh PostgreSQL database ($TURNOUT_TEST_POSTGRES_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/test; the database is dropped afterwards), one function that
prints 200 characters, invoked 500 times through each node. Then 100 sequential `GET …/logs` through node
1, median and p95: merged from both nodes (node 1 asks node 2 over HTTP, then merges), against the
baseline of node 1's own records (`local=1`, no fan-out), for 100 and 1000 records.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import POSTGRES_URL, Server, deploy, publish  # noqa: E402

PRINTS = "def handler(event, context):\n    print('x' * 200)\n    return 1\n"
CASES = [
    ("node 1 only (local=1), 100", {"local": 1}),
    ("both nodes, 100", {}),
    ("node 1 only (local=1), 1000", {"local": 1, "limit": 1000}),
    ("both nodes, 1000", {"limit": 1000}),
]


def measure(server: Server, token: str, params: dict[str, Any]) -> tuple[int, float, float]:
    with server.client(token=token) as api:
        api.get("/v1/functions/b/logs", params=params)
        took = []
        for _ in range(100):
            start = time.perf_counter()
            response = api.get("/v1/functions/b/logs", params=params)
            took.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
    took.sort()
    return len(response.json()["records"]), statistics.median(took) * 1000, took[94] * 1000


def run(url: str, folder: Path) -> None:
    n1 = Server(folder / "n1", database_url=url, extra_env={"TURNOUT_NODE_NAME": "n1"})
    n2 = Server(folder / "n2", database_url=url, extra_env={"TURNOUT_NODE_NAME": "n2"})
    try:
        n1.start(60)
        with n1.client() as api:
            deploy(api, "b", {"app.py": PRINTS})
            publish(api, "b")
        shutil.copytree(n1.data_dir / "blobs", n2.data_dir / "blobs")  # bundles are per node for now
        n2.start(60)
        for server in (n1, n2):
            with server.client(token=n1.token) as api:
                for _ in range(500):
                    api.post("/v1/functions/b:1/invoke", json={})
        time.sleep(1)  # the log writers batch for up to 20 ms
        for label, params in CASES:
            count, median, p95 = measure(n1, n1.token, params)
            print(f"{label:30s} records={count:5d}  median={median:6.1f} ms  p95={p95:6.1f} ms")
    finally:
        n2.kill()
        n1.stop()


def main() -> None:
    name = f"turnout_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    folder = Path(tempfile.mkdtemp(prefix="turnout-bench-"))
    try:
        run(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False), folder)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
