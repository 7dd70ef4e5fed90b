"""Runtime benchmarks (issue 3): the invoke path, cold starts, scale-out and alias propagation.

Run from the repository root:

    .venv/bin/python benchmarks/runtime.py            # full run, ~2-3 minutes
    .venv/bin/python benchmarks/runtime.py --quick    # smoke run, < 40 s
    .venv/bin/python benchmarks/runtime.py --only a   # one goal (a, b, c or d; repeatable)

Goals, each against a baseline measured in the same run (interleaved where possible):

  a) warm invoke throughput of a hello-world function through POST /v1/functions/{fn}/invoke:
     >= 50% of a bare uvicorn ASGI app answering the same body (own process, same uvicorn settings);
     and added latency with one sequential client: p50(Turnout) - p50(bare) <= 0.3 ms
  b) cold start (first invocation of a newly published version, no dependencies): p50 <= 10 ms
     (baseline: a fresh `python -I -S bootstrap.py worker` spawned until its ready frame)
  c) scale-out of a warm version whose handler imports a heavy package (~200 ms at import):
     p50 <= 10 ms per new worker (baseline: that version's first cold start, which pays the import)
  d) alias update acknowledged -> new requests routed by it: p99 <= 10 ms, no stale request
     (baseline: the alias PUT itself)

Throughput uses `wrk` (a separate C process, one thread) when it is on PATH, else a load generator
in a separate Python process (asyncio, raw HTTP/1.1); the header says which. Timed single requests
use http.client keep-alive connections from this process. The script prints PASS/MISS per goal;
its exit status does not depend on the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import importlib.util
import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "src", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from control_plane import BenchServer, Series, fmt, machine, render  # noqa: E402
from tests.support import deploy, free_port  # noqa: E402

from turnout.runtime.bootstrap import read_frame  # noqa: E402
from turnout.runtime.forkserver import spawn_worker  # noqa: E402

MS = 1e-6  # ns -> ms
HELLO_WORLD = "def handler(event, context):\n    return {'hello': 'world'}\n"
HELLO_BODY = b'{"hello":"world"}'  # what the worker sends back for HELLO_WORLD (compact JSON)
HEAVY_HANDLER = (
    "import time\n\nimport heavypkg\n\n\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return {'hello': 'world', 'heavy': heavypkg.__version__}\n"
)
BARE_APP = '''\
"""A minimal raw ASGI app: the bare-uvicorn baseline of benchmarks/runtime.py."""

BODY = __BODY__
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # read the request body, as the invoke endpoint does
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
'''.replace("__BODY__", repr(HELLO_BODY))
# The same uvicorn.run call as `turnout serve` (src/turnout/server.py): loop and http left on "auto",
# log level "warning" as BenchServer runs Turnout, so no access log.
BARE_RUN = (
    "import sys, uvicorn; sys.path.insert(0, sys.argv[1]); "
    "uvicorn.run('bare_app:app', host='127.0.0.1', port=int(sys.argv[2]), log_level='warning', "
    "access_log=False)"
)


# --------------------------------------------------------------------------------------------
# small HTTP helpers (http.client: less client overhead than httpx, same for subject and baseline)


class Conn:
    """One keep-alive HTTP/1.1 connection; ``request`` returns (ns, status, headers, body)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(
        self, method: str, path: str, body: bytes = b"{}", expect: tuple[int, ...] = (200,)
    ) -> tuple[int, int, http.client.HTTPResponse, bytes]:
        start = time.perf_counter_ns()
        self.conn.request(method, path, body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter_ns() - start
        if response.status not in expect:
            raise RuntimeError(f"{method} {path} -> {response.status}: {data[:500]!r}")
        return elapsed, response.status, response, data

    def close(self) -> None:
        self.conn.close()


def invoke_path(fn: str, qualifier: str | None = None) -> str:
    return f"/v1/functions/{fn}/invoke" + (f"?qualifier={qualifier}" if qualifier else "")


def init_ms(response: http.client.HTTPResponse) -> float | None:
    value = response.getheader("X-Turnout-Init-Duration")
    return None if value is None else float(value)


@contextmanager
def running(server: BenchServer) -> Iterator[BenchServer]:
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def bare_uvicorn(root: Path) -> Iterator[str]:
    """The baseline app in its own `uvicorn.run` process; yields its URL."""
    folder = root / "bare"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bare_app.py").write_text(BARE_APP)
    for _ in range(3):
        port = free_port()
        with open(folder / "uvicorn.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", BARE_RUN, str(folder), str(port)], stdout=log, stderr=log
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.post(url + "/", content=b"{}", timeout=1).content == HELLO_BODY:
                    break
            except httpx.HTTPError:
                time.sleep(0.02)
        else:
            process.kill()
            process.wait()
            continue
        try:
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)
        return
    raise RuntimeError("the bare uvicorn app did not start: " + (folder / "uvicorn.log").read_text()[-2000:])


# --------------------------------------------------------------------------------------------
# load generators (a separate process either way)


@dataclass
class LoadRun:
    rps: float
    p50: float
    p90: float
    p99: float
    requests: int
    errors: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(url: str, path: str, token: str, conns: int, seconds: float, folder: Path) -> LoadRun:
    script = folder / "invoke.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.body = "{}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{round(seconds)}s", "--latency", "-s", str(script), url + path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return LoadRun(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50=_wrk_ms(pct["50"]),
        p90=_wrk_ms(pct["90"]),
        p99=_wrk_ms(pct["99"]),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        errors=errors,
    )


async def _pyload(url: str, path: str, token: str, conns: int, seconds: float) -> dict[str, Any]:
    host, _, port = url.removeprefix("http://").partition(":")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 2\r\n\r\n{{}}"
    ).encode()
    latencies: list[int] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < stop:
            start = time.perf_counter_ns()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                key, _, value = line.partition(b":")
                if key.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter_ns() - start)
            errors += not status.startswith(b"HTTP/1.1 200")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(conns)))
    elapsed = time.perf_counter() - started
    s = Series("load", [x * MS for x in latencies])
    return {"rps": len(latencies) / elapsed, "p50": s.p50, "p90": s.p90, "p99": s.p99,
            "requests": len(latencies), "errors": errors}  # fmt: skip


def _pyload_main(args: list[str]) -> None:
    url, path, token, conns, seconds = args[0], args[1], args[2], int(args[3]), float(args[4])
    print(json.dumps(asyncio.run(_pyload(url, path, token, conns, seconds))))


def run_pyload(url: str, path: str, token: str, conns: int, seconds: float) -> LoadRun:
    out = subprocess.run(
        [sys.executable, __file__, "--_pyload", url, path, token, str(conns), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return LoadRun(**json.loads(out))


# --------------------------------------------------------------------------------------------
# a) warm invoke throughput and added latency


def bench_warm(root: Path, conns: int, seconds: float, rounds: int, pairs: int) -> dict[str, Any]:
    out: dict[str, Any] = {k: Series(k) for k in ("seq_bare", "seq_turnout")}
    out["load_bare"], out["load_turnout"] = [], []
    load = run_wrk if shutil.which("wrk") else None
    server = BenchServer(root / "warm" / "data")
    with running(server), bare_uvicorn(root) as bare_url, server.client() as api:
        fn = "bench-hello"
        deploy(api, fn, files={"app.py": HELLO_WORLD})
        api.post(f"/v1/functions/{fn}/versions").raise_for_status()
        api.put(f"/v1/functions/{fn}/aliases/live", json={"version": "1"}).raise_for_status()
        path = invoke_path(fn, "live")

        def generate(url: str, p: str, secs: float) -> LoadRun:
            if load is not None:
                return load(url, p, server.token, conns, secs, root)
            return run_pyload(url, p, server.token, conns, secs)

        # Warm-up: fills the pool to `conns` workers, warms both servers.
        generate(bare_url, "/", 1.0)
        generate(server.url, path, 1.0)
        for i in range(rounds):  # ABBA order
            order = [("load_bare", bare_url, "/"), ("load_turnout", server.url, path)]
            for key, url, p in order if i % 2 == 0 else order[::-1]:
                run = generate(url, p, seconds)
                if run.errors:
                    raise RuntimeError(f"{key}: {run.errors} failed requests")
                out[key].append(run)

        # One sequential client each, alternating request by request on two keep-alive connections.
        bare, turn = Conn(bare_url), Conn(server.url, server.token)
        try:
            for i in range(pairs + pairs // 10):
                record = i >= pairs // 10
                for key, conn, p in (
                    [("seq_bare", bare, "/"), ("seq_turnout", turn, path)]
                    if i % 2 == 0
                    else [("seq_turnout", turn, path), ("seq_bare", bare, "/")]
                ):
                    ns, _, _, body = conn.request("POST", p)
                    if body != HELLO_BODY:
                        raise RuntimeError(f"{key}: unexpected body {body!r}")
                    if record:
                        out[key].add_ns(ns)
        finally:
            bare.close()
            turn.close()
    out["generator"] = "wrk -t1 (separate process)" if load else "python asyncio (separate process)"
    return out


# --------------------------------------------------------------------------------------------
# b) cold start of a new version


def _cold_sample(api: httpx.Client, conn: Conn, fn: str, i: int) -> tuple[int, int, float, int]:
    """A new version (an environment change, untimed), its publish, first (cold) and second (warm) invoke:
    (publish ns, cold ns, X-Turnout-Init-Duration ms, warm ns)."""
    api.put(f"/v1/functions/{fn}", json={"environment": {"BENCH_N": str(i + 1)}}).raise_for_status()
    pub_ns, _, _, body = conn.request("POST", f"/v1/functions/{fn}/versions", expect=(201,))
    number = json.loads(body)["version"]
    cold_ns, _, response, body = conn.request("POST", invoke_path(fn, str(number)))
    cold_init = init_ms(response)
    if body != HELLO_BODY or response.getheader("X-Turnout-Version") != str(number):
        raise RuntimeError(f"cold invoke of version {number}: {body!r}")
    if cold_init is None:
        raise RuntimeError(f"version {number}: the first invoke was not a cold start")
    warm_ns, _, response, _ = conn.request("POST", invoke_path(fn, str(number)))
    if init_ms(response) is not None:
        raise RuntimeError(f"version {number}: the second invoke was cold too")
    return pub_ns, cold_ns, cold_init, warm_ns


def bench_cold(root: Path, samples: int, warmup: int) -> dict[str, Series]:
    """Cold starts with the sandbox on (TURNOUT_SANDBOX=auto) and off, on two servers, sample by sample."""
    keys = ("cold", "cold_init", "warm", "publish", "spawn", "spawn_init", "python_c", "publish_first")
    out = {k: Series(k) for k in (*keys, "cold_off", "cold_init_off", "warm_off")}
    idle = {"TURNOUT_WORKER_IDLE_SECONDS": "5"}
    server = BenchServer(root / "cold" / "data", extra_env=idle)
    plain = BenchServer(root / "cold-off" / "data", extra_env={**idle, "TURNOUT_SANDBOX": "off"})
    with running(server), server.client() as api, running(plain), plain.client() as plain_api:
        fn = "bench-cold"
        deploy(api, fn, files={"app.py": HELLO_WORLD}, environment={"BENCH_N": "0"})
        deploy(plain_api, fn, files={"app.py": HELLO_WORLD}, environment={"BENCH_N": "0"})
        conn, plain_conn = Conn(server.url, server.token), Conn(plain.url, plain.token)
        spec: dict[str, Any] | None = None
        try:
            for i in range(warmup + samples):
                record = i >= warmup
                pub_ns, cold_ns, cold_init, warm_ns = _cold_sample(api, conn, fn, i)
                _, off_ns, off_init, off_warm_ns = _cold_sample(plain_api, plain_conn, fn, i)
                if spec is None:
                    code_dir = next((server.data_dir / "code").glob("[0-9a-f]*"))
                    spec = worker_spec(code_dir, fn)
                # Baselines, interleaved: a fresh interpreter worker until ready; a bare interpreter.
                spawn_ns, spawn_init = spawn_fresh_worker(spec)
                t = time.perf_counter_ns()
                subprocess.run([sys.executable, "-I", "-S", "-c", "import json"], check=True)
                python_ns = time.perf_counter_ns() - t
                if record:
                    out["publish"].add_ns(pub_ns)
                    out["cold"].add_ns(cold_ns)
                    out["cold_init"].samples.append(cold_init)
                    out["warm"].add_ns(warm_ns)
                    out["cold_off"].add_ns(off_ns)
                    out["cold_init_off"].samples.append(off_init)
                    out["warm_off"].add_ns(off_warm_ns)
                    out["publish_first"].add_ns(pub_ns + cold_ns)
                    out["spawn"].add_ns(spawn_ns)
                    out["spawn_init"].samples.append(spawn_init)
                    out["python_c"].add_ns(python_ns)
        finally:
            conn.close()
            plain_conn.close()
    return out


def worker_spec(code_dir: Path, fn: str) -> dict[str, Any]:
    return {
        "code_dir": str(code_dir),
        "layer_dir": None,
        "handler": "app.handler",
        "environment": {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC"},
        "memory_mb": 128,
        "function_name": fn,
        "function_version": "1",
        "log_group_name": f"/aws/lambda/{fn}",
        "log_stream_name": "bench",
    }


def spawn_fresh_worker(spec: dict[str, Any]) -> tuple[int, float]:
    """The fallback path of the runtime: spawn `python -I -S bootstrap.py worker`, wait for ready."""
    start = time.perf_counter_ns()
    process, sock = spawn_worker(spec)
    frame = read_frame(sock)
    elapsed = time.perf_counter_ns() - start
    sock.close()
    process.kill()
    process.wait()
    if frame is None or frame[0].get("kind") != "ready":
        raise RuntimeError(f"fresh worker did not get ready: {frame}")
    return elapsed, float(frame[0]["init_ms"])


# --------------------------------------------------------------------------------------------
# c) scale-out of a warm version with a heavy import


def write_heavy_wheel(folder: Path, modules: int = 24, defs: int = 30) -> Path:
    """A pure-Python wheel `heavypkg` whose import does real work: ~``modules`` x ``defs`` dataclasses
    and functions, a compiled regex and a 2,000-entry dict per module (~150-250 ms here)."""
    files: dict[str, str] = {}
    for m in range(modules):
        body = ["import dataclasses\nimport re\n\n"]
        for d in range(defs):
            body.append(
                f"@dataclasses.dataclass\nclass C{d}:\n    a: int = {d}\n    b: str = 'x{d}'\n\n"
                f"    def f(self, x):\n        return self.a * x + len(self.b)\n\n\n"
                f"def g{d}(x, y={d}):\n    return [i * y for i in range(x)]\n\n\n"
            )
        body.append(f"PATTERN = re.compile(r'(?P<k>[a-z]+{m})=(?P<v>\\d+)')\n")
        body.append("TABLE = {i: str(i) for i in range(2000)}\n")
        files[f"heavypkg/m{m}.py"] = "".join(body)
    files["heavypkg/__init__.py"] = "".join(f"from . import m{m}\n" for m in range(modules))
    files["heavypkg/__init__.py"] += '__version__ = "1.0"\n'
    dist_info = "heavypkg-1.0.dist-info"
    files[f"{dist_info}/METADATA"] = "Metadata-Version: 2.1\nName: heavypkg\nVersion: 1.0\n"
    files[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: turnout-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "heavypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return wheel


def _burst(conns: list[Conn], path: str, body: bytes) -> tuple[int, list[tuple[int, float | None]]]:
    """``len(conns)`` concurrent invocations released together: (wall ns, [(latency ns, init ms)])."""
    results: list[Any] = [None] * len(conns)
    gate = threading.Barrier(len(conns) + 1)

    def fire(k: int) -> None:
        gate.wait()
        try:
            ns, _, response, _ = conns[k].request("POST", path, body)
            results[k] = (ns, init_ms(response))
        except BaseException as exc:  # noqa: BLE001 - raised below
            results[k] = exc

    threads = [threading.Thread(target=fire, args=(k,)) for k in range(len(conns))]
    for t in threads:
        t.start()
    gate.wait()
    start = time.perf_counter_ns()
    for t in threads:
        t.join()
    wall = time.perf_counter_ns() - start
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return wall, results


def bench_scale(root: Path, rounds: int, burst: int, sleep_s: float) -> dict[str, Any]:
    """Per round: a new version, its first (cold) worker, then a burst of 2 (one new worker), then a
    burst of ``burst`` (``burst`` - 2 more new workers, started concurrently)."""
    out: dict[str, Any] = {
        k: Series(k)
        for k in (
            "first", "first_init", "publish", "warm_slow", "new_added", "new_init",
            "single_added", "single_init", "many_added", "many_init", "burst_total",
        )
    }  # fmt: skip
    out["template_misses"] = 0
    wheels = write_heavy_wheel(root / "wheels").parent
    server = BenchServer(
        root / "scale" / "data",
        extra_env={
            "TURNOUT_OFFLINE": "1",
            "TURNOUT_WHEEL_DIR": str(wheels),
            "TURNOUT_WORKER_IDLE_SECONDS": "10",
        },
    )
    with running(server), server.client() as api:
        fn = "bench-heavy"
        files = {"app.py": HEAVY_HANDLER, "requirements.txt": "heavypkg==1.0\n"}
        deploy(api, fn, files=files, environment={"BENCH_N": "0"})
        conn = Conn(server.url, server.token)
        burst_conns = [Conn(server.url, server.token) for _ in range(burst)]
        slow = json.dumps({"sleep": sleep_s}).encode()
        try:
            for i in range(rounds + 1):  # round 0 warms up (first layer build, .pyc files)
                record = i >= 1
                api.put(
                    f"/v1/functions/{fn}", json={"environment": {"BENCH_N": str(i + 1)}}
                ).raise_for_status()
                pub_ns, _, _, body = conn.request("POST", f"/v1/functions/{fn}/versions", expect=(201,))
                path = invoke_path(fn, str(json.loads(body)["version"]))
                # Baseline: the version's first worker, from the zygote, pays the heavy import.
                first_ns, _, response, _ = conn.request("POST", path)
                first_init = init_ms(response)
                if first_init is None:
                    raise RuntimeError(f"{path}: first invoke was not cold")
                # Its template (made in the background from the first worker's module list) imports
                # heavypkg once more; give it time to finish before the bursts.
                time.sleep(0.3 + 3 * first_init / 1000)
                warm_ns, _, response, _ = conn.request("POST", path, slow)
                if init_ms(response) is not None:
                    raise RuntimeError(f"{path}: warm slow invoke was cold")
                _, single = _burst(burst_conns[:2], path, slow)  # 1 idle worker: one new worker
                wall, many = _burst(burst_conns, path, slow)  # 2 idle workers: burst - 2 new ones
                single_new = [(ns, init) for ns, init in single if init is not None]
                many_new = [(ns, init) for ns, init in many if init is not None]
                if len(single_new) != 1 or len(many_new) != burst - 2:
                    raise RuntimeError(
                        f"{path}: {len(single_new)} + {len(many_new)} new workers, expected 1 + {burst - 2}"
                    )
                if not record:
                    continue
                out["publish"].add_ns(pub_ns)
                out["first"].add_ns(first_ns)
                out["first_init"].samples.append(first_init)
                out["warm_slow"].add_ns(warm_ns)
                out["burst_total"].add_ns(wall)
                for kind, new in (("single", single_new), ("many", many_new)):
                    for ns, init in new:
                        added = (ns - warm_ns) * MS
                        for key in (kind, "new"):
                            out[f"{key}_added"].samples.append(added)
                            out[f"{key}_init"].samples.append(init)
                        out["template_misses"] += init > first_init / 2
        finally:
            conn.close()
            for c in burst_conns:
                c.close()
    return out


# --------------------------------------------------------------------------------------------
# d) alias update -> routing


def _background(url: str, token: str, path: str, threads: int, pause: float, stop: Any, out: str) -> None:
    """Invoke the alias on ``threads`` connections until ``stop`` is set; save (send, recv, version)."""
    records: list[list[tuple[int, int, str | None]]] = [[] for _ in range(threads)]

    def loop(k: int) -> None:
        conn = Conn(url, token)
        while not stop.is_set():
            start = time.perf_counter_ns()  # CLOCK_MONOTONIC: comparable with the parent's clock
            _, _, response, _ = conn.request("POST", path)
            records[k].append((start, time.perf_counter_ns(), response.getheader("X-Turnout-Version")))
            if pause:
                time.sleep(pause)
        conn.close()

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    Path(out).write_text(json.dumps([r for rs in records for r in rs]))


def bench_alias(root: Path, flips: int, warmup: int, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {k: Series(k) for k in ("put", "probe", "propagation", "background")}
    server = BenchServer(root / "alias" / "data")
    with running(server), server.client() as api:
        fn = "bench-flip"
        for v in (1, 2):
            deploy(api, fn, files={"app.py": HELLO_WORLD}, environment={"V": str(v)})
            api.post(f"/v1/functions/{fn}/versions").raise_for_status()
        api.put(f"/v1/functions/{fn}/aliases/live", json={"version": "1"}).raise_for_status()
        path = invoke_path(fn, "live")
        control, probe = Conn(server.url, server.token), Conn(server.url, server.token)
        alias_path = f"/v1/functions/{fn}/aliases/live"
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        records_file = root / "alias" / "background.json"
        background = ctx.Process(
            target=_background, args=(server.url, server.token, path, 2, 0.001, stop, str(records_file))
        )
        flips_log: list[tuple[int, int, str]] = []  # (put sent, ack, new version)
        stale_probes = 0
        try:
            for number in ("2", "1", "2", "1"):  # warm a pool for both versions under the alias
                control.request("PUT", alias_path, json.dumps({"version": number}).encode())
                for _ in range(3):
                    probe.request("POST", path)
            background.start()
            time.sleep(1.0)
            current = "1"
            for i in range(warmup + flips):
                new = "2" if current == "1" else "1"
                put_start = time.perf_counter_ns()
                ns, _, _, _ = control.request("PUT", alias_path, json.dumps({"version": new}).encode())
                ack = time.perf_counter_ns()
                _, _, response, _ = probe.request("POST", path)
                seen = time.perf_counter_ns()
                current = new
                if response.getheader("X-Turnout-Version") != new:
                    stale_probes += 1
                if i >= warmup:
                    out["put"].add_ns(ns)
                    out["probe"].add_ns(seen - ack)
                    flips_log.append((put_start, ack, new))
                time.sleep(rng.uniform(0.01, 0.03))
        finally:
            stop.set()
            background.join(timeout=60)
            control.close()
            probe.close()
    records = sorted(json.loads(records_file.read_text()))
    stale = checked = 0
    for k, (_, ack, new) in enumerate(flips_log):
        until = flips_log[k + 1][0] if k + 1 < len(flips_log) else float("inf")
        window = [(s, v) for s, r, v in records if s > ack and r < until]
        late = [s for s, v in window if v != new]
        checked += len(window)
        stale += len(late)
        out["propagation"].samples.append(max((s - ack) * MS for s in late) if late else 0.0)
    for s, r, _ in records:
        out["background"].add_ns(r - s)
    out["stale"], out["checked"], out["stale_probes"] = stale, checked, stale_probes
    return out


# --------------------------------------------------------------------------------------------
# report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_pyload"]:
        _pyload_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few samples, a smoke run (< 40 s)")
    parser.add_argument("--json", type=Path, help="also write the raw summary to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folders and logs")
    parser.add_argument("--seed", type=int, default=1, help="random seed (pauses between alias flips)")
    parser.add_argument("--only", choices=("a", "b", "c", "d"), action="append", help="run only these goals")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections for a (8)")
    parser.add_argument(
        "--src", type=Path, help="run `turnout serve` from another copy of src/ (PYTHONPATH), for A/B tests"
    )
    args = parser.parse_args(argv)
    if args.src:
        os.environ["PYTHONPATH"] = str(args.src.resolve())

    if args.quick:
        seconds, rounds, pairs, n_cold, n_scale, n_flips, warm = 2, 2, 300, 20, 3, 60, 5
    else:
        seconds, rounds, pairs, n_cold, n_scale, n_flips, warm = 4, 5, 2000, 100, 20, 300, 10
    burst, sleep_s = 5, 0.2
    only = set(args.only or "abcd")
    rng = random.Random(args.seed)

    info = machine()
    info["uvicorn"] = "loop {}, http {} (auto; both servers)".format(
        "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "httptools" if importlib.util.find_spec("httptools") else "h11",
    )
    if args.src:
        info["src"] = f"{args.src.resolve()} (servers only)"
    wrk = shutil.which("wrk")
    info["loadgen"] = (
        subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
        if wrk
        else "python"
    )
    print("Turnout runtime benchmark", "(quick)" if args.quick else "(full)")
    print(f"date     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    for key, value in info.items():
        print(f"{key:<8} {value}")
    print()

    root = Path(tempfile.mkdtemp(prefix="turnout-bench-rt-"))
    res: dict[str, Any] = {}
    timings: dict[str, float] = {}
    try:
        for goal, run in (
            ("a", lambda: bench_warm(root, args.connections, seconds, rounds, pairs)),
            ("b", lambda: bench_cold(root, n_cold, warm)),
            ("c", lambda: bench_scale(root, n_scale, burst, sleep_s)),
            ("d", lambda: bench_alias(root, n_flips, warm, rng)),
        ):
            if goal in only:
                t = time.perf_counter()
                res[goal] = run()
                timings[goal] = time.perf_counter() - t
    finally:
        if args.keep:
            print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    header = ["metric", "n", "p50", "p90", "p99", "baseline p50", "ratio p50", "goal", "result"]
    rows: list[list[str]] = []
    verdicts: dict[str, bool] = {}

    def row(
        label: str, s: Series, base: Series | None = None, goal: str = "", ok: bool | None = None
    ) -> None:
        rows.append([
            label, str(s.n), fmt(s.p50), fmt(s.p90), fmt(s.p99),
            fmt(base.p50) if base else "", f"{s.p50 / base.p50:.2f}x" if base else "",
            goal, "" if ok is None else ("PASS" if ok else "MISS"),
        ])  # fmt: skip

    if "a" in only:
        a = res["a"]
        bare_rps = statistics.median(r.rps for r in a["load_bare"])
        turn_rps = statistics.median(r.rps for r in a["load_turnout"])
        verdicts["a.throughput"] = turn_rps >= 0.5 * bare_rps
        n_conn = args.connections
        for key, label in (("load_bare", "bare uvicorn"), ("load_turnout", "Turnout invoke")):
            runs = a[key]
            rows.append([
                f"a) {label} req/s @{n_conn} conns", str(len(runs)),
                f"{statistics.median(r.rps for r in runs):.0f}",
                f"min {min(r.rps for r in runs):.0f}", f"max {max(r.rps for r in runs):.0f}",
                f"{bare_rps:.0f}" if key == "load_turnout" else "",
                f"{turn_rps / bare_rps:.2f}x" if key == "load_turnout" else "",
                ">= 0.50x bare" if key == "load_turnout" else "",
                ("PASS" if verdicts["a.throughput"] else "MISS") if key == "load_turnout" else "",
            ])  # fmt: skip
        for key, label in (("load_bare", "bare"), ("load_turnout", "Turnout")):
            runs = a[key]
            rows.append([
                f"   latency under load, {label} (ms)", str(len(runs)),
                *(fmt(statistics.median(getattr(r, p) for r in runs)) for p in ("p50", "p90", "p99")),
                "", "", "", "",
            ])  # fmt: skip
        sb, st = a["seq_bare"], a["seq_turnout"]
        row("a) 1 client: bare uvicorn (ms)", sb)
        row("a) 1 client: Turnout invoke (ms)", st, sb)
        added = st.p50 - sb.p50
        verdicts["a.latency"] = added <= 0.3
        rows.append([
            "a) added latency p50 (ms)", str(st.n), fmt(added), fmt(st.p90 - sb.p90), fmt(st.p99 - sb.p99),
            fmt(sb.p50), "", "<= 0.3 ms", "PASS" if verdicts["a.latency"] else "MISS",
        ])  # fmt: skip
    if "b" in only:
        b = res["b"]
        verdicts["b"] = b["cold"].p50 <= 10
        verdicts["b.sandbox"] = b["cold"].p50 - b["cold_off"].p50 <= 1.0
        row("b) spawn fresh worker (baseline, ms)", b["spawn"])
        row("   its init_ms (in worker)", b["spawn_init"])
        row("   python -I -S -c 'import json'", b["python_c"])
        row("b) cold first invoke, new version", b["cold"], b["spawn"], "p50 <= 10 ms", verdicts["b"])
        row("   X-Turnout-Init-Duration", b["cold_init"], b["spawn_init"])
        row("b) cold, TURNOUT_SANDBOX=off", b["cold_off"])
        row("   sandbox on - off", b["cold"], b["cold_off"], "<= 1 ms", verdicts["b.sandbox"])
        row("   X-Turnout-Init-Duration, off", b["cold_init_off"], b["cold_init"])
        row("   warm invoke, same version", b["warm"])
        row("   warm invoke, sandbox off", b["warm_off"], b["warm"])
        row("   publish (before it)", b["publish"])
        row("   publish + first invoke", b["publish_first"])
    if "c" in only:
        c = res["c"]
        verdicts["c"] = c["new_added"].p50 <= 10
        row("c) first worker, heavy import (base)", c["first"])
        row("   its X-Turnout-Init-Duration", c["first_init"])
        row(f"   warm invoke sleeping {sleep_s * 1000:.0f} ms", c["warm_slow"])
        row(
            "c) scale-out: added latency/new worker",
            c["new_added"],
            c["first"],
            "p50 <= 10 ms",
            verdicts["c"],
        )
        row("   new worker X-Turnout-Init-Duration", c["new_init"], c["first_init"])
        row("   1 new worker (burst of 2): added", c["single_added"], c["first"])
        row(f"   {burst - 2} new at once (burst of {burst}): added", c["many_added"], c["first"])
        row(f"   burst of {burst}, wall time", c["burst_total"])
        row("   publish (with import check)", c["publish"])
    if "d" in only:
        d = res["d"]
        verdicts["d"] = d["probe"].p99 <= 10 and d["stale"] == 0 and d["stale_probes"] == 0
        row("d) alias PUT (baseline, ms)", d["put"])
        row("d) ack -> response with new version", d["probe"], d["put"], "p99 <= 10 ms", verdicts["d"])
        row("   ack -> last stale request sent", d["propagation"])
        row("   background invokes (2 conns)", d["background"])

    print(render(rows, header))
    print()
    notes: list[str] = []
    if "a" in only:
        notes += [
            f"a: {res['a']['generator']}, {args.connections} keep-alive connections, {rounds} runs of "
            f"{seconds} s each, bare and Turnout alternating (ABBA);",
            "   1-client figures alternate request by request (http.client keep-alive, this process);",
            "   invoke path: POST /v1/functions/{fn}/invoke?qualifier=live (an alias).",
        ]
    if "b" in only:
        notes += [
            "b: each sample publishes a new version (env change), invokes it once (cold) and again (warm),",
            "   on a server with the sandbox (auto) and then on one with TURNOUT_SANDBOX=off,",
            "   then spawns a fresh-interpreter worker (the baseline) and `python -I -S -c 'import json'`.",
        ]
    if "c" in only:
        ms = f"{sleep_s * 1000:.0f} ms"
        notes += [
            "c: per round a new version: first invoke (cold, heavy import), wait for its template,",
            f"   one warm {ms} invoke, then 2 and then {burst} concurrent {ms} invokes "
            f"(1 and {burst - 2} new workers);",
            f"   added latency = latency - the warm {ms} invoke. New workers whose init was more than half",
            f"   the first worker's (template not used): {res['c']['template_misses']}",
        ]
    if "d" in only:
        d = res["d"]
        notes += [
            f"d: {d['put'].n} flips between two warm versions, 2 background connections invoking the alias",
            f"   (1 ms pause); stale background requests sent after an ack: {d['stale']} of {d['checked']};",
            f"   stale probes: {d['stale_probes']}",
        ]
    print("\n".join(notes))
    print("phase times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("goals: " + ", ".join(f"{k} {'PASS' if v else 'MISS'}" for k, v in verdicts.items()))

    if args.json:
        summary: dict[str, Any] = {}
        for goal, values in res.items():
            for k, v in values.items():
                if isinstance(v, Series):
                    summary[f"{goal}.{k}"] = v.summary()
                elif isinstance(v, list):
                    summary[f"{goal}.{k}"] = [r.__dict__ for r in v]
                else:
                    summary[f"{goal}.{k}"] = v
        args.json.write_text(json.dumps({
            "machine": info, "quick": args.quick, "date": datetime.now(UTC).isoformat(),
            "results": summary, "phase_seconds": timings, "verdicts": verdicts,
        }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
