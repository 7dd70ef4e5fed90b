"""Web console page time with 1,000 functions in the store (issue 14, acceptance 3).

Run from the repository root:

    .venv/bin/python benchmarks/console.py            # 1,000 functions x 10 versions, 200 samples a page
    .venv/bin/python benchmarks/console.py --quick    # smoke run, < 30 s

Seeds a fresh SQLite store (the control-plane benchmark's seeder), starts a real `turnout serve`, signs in
through the console's form and requests each page over one keep-alive connection, interleaved page by
page after a warm-up. The times are measured at the client, so they include HTTP and the client: an
upper bound of the server's time. Goal: every page p99 <= 100 ms. Prints PASS/MISS per page, and the
time of the very first functions list (it reads every name into the console's catalogue).
"""

from __future__ import annotations

import argparse
import random
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
from control_plane import seed  # noqa: E402
from tests.support import Server  # noqa: E402

GOAL_MS = 100.0


def pages(names: list[str]) -> dict[str, str]:
    middle = names[len(names) // 2]
    fn = f"/ui/functions/{middle}"
    return {
        "health (baseline)": "/v1/health",
        "functions list, page 1": "/ui/functions",
        "functions list, page 10": "/ui/functions?page=10",
        "functions search": f"/ui/functions?q={middle[:-1]}",
        "function page": fn,
        "diff 1 -> 10": f"{fn}/diff?from=1&to=10",
        "confirm a split": f"{fn}/aliases/live/point?target=9%3D90+10%3D10",
        "rollout page (none yet)": f"{fn}/aliases/live/rollout",
        "logs page": f"{fn}/logs",
        "logs tail (json)": f"{fn}/logs.json?version=&request_id=",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few samples, a smoke run")
    parser.add_argument("--functions", type=int, default=1000)
    args = parser.parse_args(argv)
    samples, warmup = (30, 5) if args.quick else (200, 20)
    with tempfile.TemporaryDirectory(prefix="turnout-console-bench-") as tmp:
        data = Path(tmp) / "data"
        names, seconds = seed(data, args.functions, 10)
        print(f"seeded {len(names)} functions x 10 versions in {seconds:.1f} s")
        server = Server(data).start(timeout=60)
        try:
            results = run(server, pages(names), samples, warmup)
        finally:
            server.stop()
    report(results, samples)
    return 0


def run(server: Server, urls: dict[str, str], samples: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in urls}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        signed = client.post("/ui/signin", data={"token": server.token})
        assert signed.status_code == 303 and "turnout_console" in client.cookies, signed.text
        started = time.perf_counter()
        assert client.get("/ui/functions").status_code == 200
        cold = (time.perf_counter() - started) * 1000
        print(f"first functions list after start (fills the catalogue): {cold:.1f} ms")
        order = list(urls.items())
        for i in range(warmup + samples):
            random.shuffle(order)
            for label, url in order:
                started = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"
                if i >= warmup:
                    times[label].append(elapsed)
    return times


def report(results: dict[str, list[float]], samples: int) -> None:
    print("| page | n | p50 ms | p90 ms | p99 ms | goal | result |\n|---|---|---|---|---|---|---|")
    for label, values in results.items():
        q = statistics.quantiles(values, n=100, method="inclusive")
        p50, p90, p99 = statistics.median(values), q[89], q[98]
        baseline = label.startswith("health")
        goal = "" if baseline else f"p99 <= {GOAL_MS:.0f} ms"
        result = "" if baseline else ("PASS" if p99 <= GOAL_MS else "MISS")
        print(f"| {label} | {samples} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {goal} | {result} |")


if __name__ == "__main__":
    raise SystemExit(main())
