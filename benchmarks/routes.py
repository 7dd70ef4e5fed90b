"""HTTP routes against /invoke against functions-framework, side by side in one run (issue 17, item 4).

Run from the repository root (needs `wrk` on PATH and the `functions-framework` package, in the `test`
extra):

    .venv/bin/python benchmarks/routes.py            # 3 rounds of 5 s per system and concurrency, ~4 min
    .venv/bin/python benchmarks/routes.py --quick    # 2 rounds of 3 s

Three systems answer the same hello-world function under the same load (wrk, one thread, keep-alive
connections), at 1 and 32 connections, in ABC/CBA rounds:

  invoke   `turnout serve`, POST /v1/functions/{fn}/invoke?qualifier=live (a bearer token)
  route    `turnout serve`, GET /hello: an HTTP route to the same alias (payload 2.0 event in, the
           function's JSON result out as the 200 body)
  ff       functions-framework (Google Cloud Functions' local server, its defaults), GET /

The Turnout server allows 32 concurrent invocations of the function (TURNOUT_FUNCTION_CONCURRENCY=32), so
that c=32 measures serving, not throttling. It prints requests/s (median, min, max), latency p50/p99
(median over rounds) and each system's ratio to /invoke at the same concurrency.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "src", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from control_plane import BenchServer, machine, render  # noqa: E402
from runtime import HELLO_BODY, HELLO_WORLD, invoke_path, running  # noqa: E402
from tests.support import deploy, free_port  # noqa: E402

FF_MAIN = "def hello(request):\n    return {'hello': 'world'}\n"
CONCURRENCIES = (1, 32)


@dataclass(frozen=True)
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float


def _ms(text: str) -> float:
    """wrk's latency text in milliseconds: ``512.00us``, ``1.20ms``, ``2.00s``."""
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise ValueError(text)


def measure(url: str, method: str, token: str | None, connections: int, seconds: int, folder: Path) -> Sample:
    """One wrk run against ``url``; refuses a run with any non-2xx answer."""
    script = folder / f"{method.lower()}-{bool(token)}.lua"
    lines = [f'wrk.method = "{method}"']
    if method == "POST":
        lines += ['wrk.body = "{}"', 'wrk.headers["Content-Type"] = "application/json"']
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"failed requests:\n{out}")
    latency = {
        line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()[:3] in ("50%", "99%")
    }
    rps = float(out.split("Requests/sec:")[1].split()[0])
    return Sample(rps, _ms(latency["50%"]), _ms(latency["99%"]))


@contextmanager
def functions_framework(root: Path) -> Iterator[str]:
    """functions-framework serving ``hello`` with its defaults; yields its URL."""
    folder = root / "ff"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(FF_MAIN)
    port = free_port()
    binary = Path(sys.executable).parent / "functions-framework"
    with open(folder / "ff.log", "ab") as log:
        process = subprocess.Popen(
            [str(binary), "--target", "hello", "--port", str(port), "--host", "127.0.0.1"],
            cwd=folder, stdout=log, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url, timeout=1).json() == {"hello": "world"}:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"functions-framework did not start; see {folder / 'ff.log'}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _table(samples: dict[tuple[str, int], list[Sample]]) -> str:
    med = statistics.median
    rows = []
    for (name, connections), runs in samples.items():
        invoke = med(s.rps for s in samples["invoke", connections])
        rps = med(s.rps for s in runs)
        rows.append([
            name, str(connections), str(len(runs)), f"{rps:.0f}", f"{min(s.rps for s in runs):.0f}",
            f"{max(s.rps for s in runs):.0f}", f"{med(s.p50_ms for s in runs):.2f}",
            f"{med(s.p99_ms for s in runs):.2f}", f"{rps / invoke:.2f}x",
        ])  # fmt: skip
    header = ["system", "c", "n", "req/s p50", "min", "max", "p50 ms", "p99 ms", "vs invoke"]
    return render(rows, header)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s per system and concurrency")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("routes.py needs wrk on PATH (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    rounds, seconds = (2, 3) if args.quick else (3, 5)
    print("Turnout routes vs /invoke vs functions-framework", "(quick)" if args.quick else "(full)")
    print(f"date     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    for key, value in machine().items():
        print(f"{key:<8} {value}")
    print()
    root = Path(tempfile.mkdtemp(prefix="turnout-bench-routes-"))
    samples: dict[tuple[str, int], list[Sample]] = {}
    try:
        server = BenchServer(root / "data", extra_env={"TURNOUT_FUNCTION_CONCURRENCY": "32"})
        with running(server), functions_framework(root) as ff_url:
            with server.client() as api:
                deploy(api, "hello", files={"app.py": HELLO_WORLD})
                api.post("/v1/functions/hello/versions").raise_for_status()
                api.put("/v1/functions/hello/aliases/live", json={"version": "1"}).raise_for_status()
                route = {"method": "GET", "path": "/hello", "function": "hello", "qualifier": "live"}
                api.post("/v1/routes", json=route).raise_for_status()
                if httpx.get(server.url + "/hello").content != HELLO_BODY:
                    raise RuntimeError("the route answers the wrong body")
            systems: dict[str, Callable[[int, int], Sample]] = {
                "invoke": lambda c, s: measure(
                    server.url + invoke_path("hello", "live"), "POST", server.token, c, s, root
                ),
                "route": lambda c, s: measure(server.url + "/hello", "GET", None, c, s, root),
                "ff": lambda c, s: measure(ff_url, "GET", None, c, s, root),
            }
            for run in systems.values():  # warm-up: fills Turnout's pool
                run(32, 2)
            order = list(systems)
            for connections in CONCURRENCIES:
                for i in range(rounds):
                    for name in order if i % 2 == 0 else order[::-1]:
                        sample = systems[name](connections, seconds)
                        samples.setdefault((name, connections), []).append(sample)
                        time.sleep(0.5)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(_table(samples))
    print()
    print(f"wrk -t1, keep-alive, {rounds} rounds of {seconds} s per system and concurrency, ABC/CBA order.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
