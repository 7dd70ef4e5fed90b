"""Where warm-invoke throughput goes: Turnout against bare uvicorn and against a do-nothing forwarder.

Run from the repository root (needs `wrk` on PATH: its own CPU must be small and measurable):

    .venv/bin/python benchmarks/invoke_ceiling.py            # 5 rounds of 4 s per system, ~2 min
    .venv/bin/python benchmarks/invoke_ceiling.py --quick    # 2 rounds of 2 s

Three systems answer the same 17-byte hello-world body under the same load (wrk, one thread, 8
keep-alive connections), in ABC/CBA rounds:

  bare       a bare uvicorn ASGI app (the baseline of runtime.py's goal a)
  forwarder  the ceiling of the architecture: a minimal uvloop + httptools server (no auth, routing,
             metrics, logs, limits or timeouts) that forwards each request to one of 8 *real* Turnout
             workers (`bootstrap.py worker`, the function's handler) over their sockets, one invocation
             per worker at a time, as Lambda's model requires
  turnout    `turnout serve` through POST /v1/functions/{fn}/invoke on an alias

For each it prints requests/s (median, ratio to bare) and where the CPU went, per request: the
server's main process (user and system time from /proc), its child processes (the workers) and the
load generator (wrk's own rusage). On a machine with few cores these sum to the cores available,
which is what bounds throughput when every request must cross two processes.
"""

from __future__ import annotations

import argparse
import os
import resource
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
from runtime import HELLO_BODY, HELLO_WORLD, bare_uvicorn, invoke_path, running  # noqa: E402
from tests.support import deploy, free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

# The forwarder: everything a gateway cannot do without, nothing more. Run as its own process.
FORWARDER = """
import asyncio, collections, itertools, json, sys, time
import httptools, uvloop
from turnout.runtime.bootstrap import FRAME, invoke_frame, read_frame
from turnout.runtime.forkserver import spawn_worker

port, code_dir, workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
spec = {"code_dir": code_dir, "layer_dir": None, "handler": "app.handler",
        "environment": {"PATH": "/usr/bin:/bin"}, "memory_mb": 128, "function_name": "f",
        "function_version": "1", "log_group_name": "/aws/lambda/f", "log_stream_name": "bench"}
idle, waiting, ids = [], collections.deque(), itertools.count()


class Worker(asyncio.Protocol):
    def __init__(self):
        self.buffer, self.done = b"", None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        if len(self.buffer) < FRAME.size:
            return
        header_len, payload_len = FRAME.unpack_from(self.buffer)
        end = FRAME.size + header_len + payload_len
        if len(self.buffer) < end:
            return
        json.loads(self.buffer[FRAME.size:FRAME.size + header_len])
        payload, self.buffer = self.buffer[FRAME.size + header_len:end], self.buffer[end:]
        done, self.done = self.done, None
        done(payload)


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.parser, self.body = transport, httptools.HttpRequestParser(self), b""

    def data_received(self, data):
        self.parser.feed_data(data)

    def on_body(self, body):
        self.body += body

    def on_message_complete(self):
        body, self.body = self.body, b""
        if idle:
            self.dispatch(idle.pop(), body)
        else:
            waiting.append((self, body))

    def dispatch(self, worker, body):
        request_id = f"{next(ids):036d}"

        def done(payload):
            self.transport.write(
                b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: %d\\r\\n"
                b"x-turnout-version: 1\\r\\nx-turnout-request-id: %s\\r\\n\\r\\n%s"
                % (len(payload), request_id.encode(), payload)
            )
            if waiting:
                http, queued = waiting.popleft()
                http.dispatch(worker, queued)
            else:
                idle.append(worker)

        worker.done = done
        worker.transport.write(invoke_frame(request_id, time.time() * 1000 + 3000, "arn:f:live", body))


async def main():
    loop = asyncio.get_running_loop()
    for _ in range(workers):
        _, sock = spawn_worker(spec)
        assert read_frame(sock)[0]["kind"] == "ready"
        sock.setblocking(False)
        _, worker = await loop.create_unix_connection(Worker, sock=sock)
        idle.append(worker)
    server = await loop.create_server(Http, "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


uvloop.run(main())
"""


@dataclass
class Sample:
    rps: float
    main_user_us: float  # CPU per request of the server's main process
    main_sys_us: float
    children_us: float  # of every process below it (workers, zygote, templates)
    loadgen_us: float


def _ticks(pid: int) -> tuple[int, int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
    return int(fields[11]), int(fields[12])


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
        found += [int(child), *_descendants(int(child))]
    return found


def measure(url: str, path: str, token: str, pid: int, seconds: int, folder: Path) -> Sample:
    """One wrk run; CPU of the server process tree and of wrk over exactly that run."""
    script = folder / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    tree = [pid, *_descendants(pid)]
    before = {p: _ticks(p) for p in tree}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "-s", str(script), url + path],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = {p: _ticks(p) for p in tree}
    requests = int(out.split(" requests in")[0].split()[-1])
    if "Non-2xx" in out:
        raise RuntimeError(f"failed requests:\n{out}")
    main_user = (after[pid][0] - before[pid][0]) / TICK
    main_sys = (after[pid][1] - before[pid][1]) / TICK
    children = sum(sum(after[p]) - sum(before[p]) for p in tree if p != pid) / TICK
    loadgen = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    per = 1e6 / requests
    rps = float(out.split("Requests/sec:")[1].split()[0])
    return Sample(rps, main_user * per, main_sys * per, children * per, loadgen * per)


@contextmanager
def forwarder(root: Path) -> Iterator[tuple[str, int]]:
    code = root / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "app.py").write_text(HELLO_WORLD)
    (root / "forwarder.py").write_text(FORWARDER)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(
        [sys.executable, str(root / "forwarder.py"), str(port), str(code), "8"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError(f"forwarder did not start: {line!r}")
        url = f"http://127.0.0.1:{port}"
        if httpx.post(url + "/", content=b"{}").content != HELLO_BODY:
            raise RuntimeError("forwarder answers the wrong body")
        yield url, process.pid
    finally:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s per system")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("invoke_ceiling.py needs wrk on PATH (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    rounds, seconds = (2, 2) if args.quick else (5, 4)

    print("Turnout invoke ceiling benchmark", "(quick)" if args.quick else "(full)")
    print(f"date     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    for key, value in machine().items():
        print(f"{key:<8} {value}")
    print()

    root = Path(tempfile.mkdtemp(prefix="turnout-bench-ceiling-"))
    samples: dict[str, list[Sample]] = {"bare": [], "forwarder": [], "turnout": []}
    try:
        server = BenchServer(root / "data")
        with running(server), bare_uvicorn(root) as bare_url, forwarder(root) as (fwd_url, fwd_pid):
            with server.client() as api:
                deploy(api, "ceiling", files={"app.py": HELLO_WORLD})
                api.post("/v1/functions/ceiling/versions").raise_for_status()
                api.put("/v1/functions/ceiling/aliases/live", json={"version": "1"}).raise_for_status()
            pattern = f"bare_app.*{bare_url.rsplit(':', 1)[1]}"
            found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
            bare_pid = int(found.split()[0])
            assert server.process is not None
            systems: dict[str, Callable[[int], Sample]] = {
                "bare": lambda s: measure(bare_url, "/", server.token, bare_pid, s, root),
                "forwarder": lambda s: measure(fwd_url, "/", server.token, fwd_pid, s, root),
                "turnout": lambda s: measure(
                    server.url,
                    invoke_path("ceiling", "live"),
                    server.token,
                    server.process.pid,
                    s,
                    root,  # type: ignore[union-attr]
                ),
            }
            for run in systems.values():  # warm-up: fills Turnout's pool to 8 workers
                run(1)
            order = list(systems)
            for i in range(rounds):
                for name in order if i % 2 == 0 else order[::-1]:
                    samples[name].append(systems[name](seconds))
                    time.sleep(0.5)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    bare = statistics.median(s.rps for s in samples["bare"])
    header = [
        "system",
        "n",
        "req/s p50",
        "min",
        "max",
        "ratio",
        "main user",
        "main sys",
        "children",
        "wrk",
        "sum",
    ]
    rows = []
    med = statistics.median
    for name, runs in samples.items():

        def us(get: Callable[[Sample], float], runs: list[Sample] = runs) -> str:
            return f"{med(get(s) for s in runs):.1f}"

        total = med(s.main_user_us + s.main_sys_us + s.children_us + s.loadgen_us for s in runs)
        rows.append([
            name, str(len(runs)), f"{med(s.rps for s in runs):.0f}", f"{min(s.rps for s in runs):.0f}",
            f"{max(s.rps for s in runs):.0f}", f"{med(s.rps for s in runs) / bare:.2f}x",
            us(lambda s: s.main_user_us), us(lambda s: s.main_sys_us), us(lambda s: s.children_us),
            us(lambda s: s.loadgen_us), f"{total:.1f}",
        ])  # fmt: skip
    print(render(rows, header))
    print()
    print("CPU columns: microseconds of CPU per request (medians), from /proc ticks and wrk's rusage.")
    print(f"wrk -t1 -c8, {rounds} rounds of {seconds} s per system, ABC/CBA order.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
