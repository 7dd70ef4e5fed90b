"""Rollout benchmarks (issue 4, acceptance item 3): automatic rollback time and cold starts in a rollout.

Run from the repository root:

    .venv/bin/python benchmarks/rollout.py            # full run, ~4 minutes
    .venv/bin/python benchmarks/rollout.py --quick    # smoke run, < 2 minutes
    .venv/bin/python benchmarks/rollout.py --repeat 8 --rate 300
    .venv/bin/python benchmarks/rollout.py --only 2 --sleep-ms 10   # part 2 with 10 ms handlers

Each part runs against its own real `turnout serve` (default settings but for a data folder and a port:
the controller ticks every TURNOUT_ROLLOUT_TICK_MS, 1000 ms as shipped), with ~200 invocations per second
sent open-loop (paced by a clock, not by answers) through POST /v1/functions/{fn}/invoke?qualifier=prod
from a separate process (asyncio, keep-alive HTTP/1.1 connections, more opened when all are busy).

Goals, each against a baseline measured in the same run:

  1) automatic rollback: a canary (10% for 600 s; gates: error rate at most +1 point over the baseline's,
     min 20 invocations; window 30 s) bakes with traffic on both versions; then the candidate starts
     failing every call (t0: the trigger file its handler checks is created). t1: the alias is back on
     the baseline alone (polled every 20 ms), and the last response the candidate served.
     Goal: t1 - t0 <= 10 s (median of --repeat fresh functions). Also: failed user requests in [t0, t1].
     Baseline: an operator's POST .../rollout/abort sent at t0, same setting (interleaved).
  2) cold starts during a warmed linear rollout (20% more every 4 s, no gates) of a healthy candidate:
     the share of user requests answered with X-Turnout-Init-Duration (they started a new worker).
     Goal: 0. Baseline: the same rollout with "warm": false (interleaved). A control (full mode): the
     same load for as long, no rollout. --sleep-ms makes both versions' handlers sleep (more workers).

The script prints PASS/MISS per goal; its exit status does not depend on the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "src", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from control_plane import BenchServer, machine, render  # noqa: E402

from turnout.domain.gates import increase_p_value  # noqa: E402
from turnout.settings import Settings  # noqa: E402

NS = 1_000_000_000
ALIAS = "prod"
TERMINAL = {"succeeded", "rolled-back", "failed", "aborted"}
# Both versions sleep BENCH_SLEEP_MS (0 in part 1); the failing candidate behaves until the file named by
# BENCH_TRIGGER exists, then fails every call.
HANDLER = """\
import os
import time

TRIGGER = os.environ["BENCH_TRIGGER"]
SLEEP_S = float(os.environ["BENCH_SLEEP_MS"]) / 1000


def handler(event, context):
    if SLEEP_S:
        time.sleep(SLEEP_S)
    if {fails} and os.path.exists(TRIGGER):
        raise RuntimeError("the candidate is broken (trigger file present)")
    return {{"version": {marker!r}}}
"""
BASELINE_CODE = HANDLER.format(fails=False, marker="baseline")
CANDIDATE_CODE = HANDLER.format(fails=True, marker="candidate")
HEALTHY_CANDIDATE_CODE = HANDLER.format(fails=False, marker="candidate")
GATES = {"max_error_rate_increase": 0.01, "min_invocations": 20}
CANARY: dict[str, Any] = {"strategy": "canary", "weight": 10, "bake_s": 600, "gates": GATES, "window_s": 30}
LINEAR: dict[str, Any] = {"strategy": "linear", "step": 20, "interval_s": 4, "no_gates": True}
POLL_S = 0.02  # alias polling period after t0
WARMUP_S = 1.5  # part 1: load on the baseline alone before the rollout starts
SETTLE_S = 5.0  # baking with traffic on both versions before t0 (plus a random share of a tick)
AFTER_S = 0.5  # load kept running after t1
CONTROL_S = 22.0  # part 2's control: load without a rollout for about as long as a rollout takes


@dataclass(frozen=True)
class Config:
    rate: float  # invocations per second
    repeat: int  # rollback trials of each kind
    pairs: int  # linear rollouts of each kind
    warmup_s: float  # part 2: load on the baseline alone before the rollout
    sleep_ms: float  # part 2: how long each invocation sleeps
    tick_s: float  # the controller's tick, for the random phase of t0
    rng: random.Random


# --------------------------------------------------------------------------------------------
# load generator: a separate process, open-loop


@dataclass(frozen=True)
class Sample:
    """One user request, times on CLOCK_MONOTONIC (ns; comparable between processes)."""

    due: int
    sent: int
    done: int
    status: int
    version: str
    cold: bool
    error: str


def _request_bytes(host: str, port: str, path: str, token: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 2\r\n\r\n{{}}"
    ).encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    headers: dict[bytes, bytes] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        key, _, value = line.partition(b":")
        headers[key.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return int(status_line.split()[1]), headers


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _one(conn: Conn, request: bytes, due: int, records: list[list[Any]], idle: list[Conn]) -> None:
    reader, writer = conn
    sent = time.monotonic_ns()
    try:
        writer.write(request)
        status, headers = await _read_response(reader)
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        writer.close()
        records.append([due, sent, time.monotonic_ns(), 0, "", False, f"client: {exc!r}"])
        return
    version = headers.get(b"x-turnout-version", b"").decode()
    error = headers.get(b"x-turnout-function-error", b"").decode()
    cold = b"x-turnout-init-duration" in headers
    records.append([due, sent, time.monotonic_ns(), status, version, cold, error])
    idle.append(conn)  # FIFO with pop(0): every connection stays in use, none idles into a keep-alive timeout


async def _generate(url: str, path: str, token: str, rate: float, stop: asyncio.Event) -> dict[str, Any]:
    """Send ``rate`` requests per second on a fixed schedule until ``stop``; all answers as records."""
    host, _, port = url.removeprefix("http://").partition(":")
    request = _request_bytes(host, port, path, token)
    idle: list[Conn] = [await asyncio.open_connection(host, int(port)) for _ in range(8)]
    opened, records, tasks = len(idle), list[list[Any]](), set[asyncio.Task[None]]()
    print("ready", flush=True)
    interval, start, i = NS / rate, time.monotonic_ns(), 0
    while not stop.is_set():
        due = start + int(i * interval)
        delay = (due - time.monotonic_ns()) / NS
        if delay > 0:
            await asyncio.sleep(delay)
        if idle:
            conn = idle.pop(0)
        else:
            conn, opened = await asyncio.open_connection(host, int(port)), opened + 1
        task = asyncio.create_task(_one(conn, request, due, records, idle))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    for _, writer in idle:
        writer.close()
    return {"records": records, "connections": opened}


def _load_main(args: list[str]) -> None:
    """``--_load URL PATH TOKEN RATE OUT``: generate until stdin closes, then write the records to OUT."""
    url, path, token, rate, out = args[0], args[1], args[2], float(args[3]), Path(args[4])

    async def run() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        return await _generate(url, path, token, rate, stop)

    out.write_text(json.dumps(asyncio.run(run())))


@dataclass
class Traffic:
    """What one run of the load generator sent and got back."""

    samples: list[Sample]
    connections: int

    @property
    def rate(self) -> float:
        """Achieved requests per second (sent)."""
        if len(self.samples) < 2:
            return 0.0
        sent = sorted(s.sent for s in self.samples)
        return (len(sent) - 1) / ((sent[-1] - sent[0]) / NS)

    @property
    def late_ms_p99(self) -> float:
        lags = sorted((s.sent - s.due) / 1e6 for s in self.samples)
        return lags[int(0.99 * (len(lags) - 1))] if lags else 0.0

    def between(self, start: int, end: int, by: str = "done") -> list[Sample]:
        return [s for s in self.samples if start <= getattr(s, by) <= end]


@contextmanager
def load(server: BenchServer, fn: str, rate: float, folder: Path, box: list[Traffic]) -> Iterator[None]:
    """Invoke ``fn:prod`` at ``rate`` from another process during the block; its Traffic goes to ``box``."""
    out = folder / f"load-{fn}.json"
    path = f"/v1/functions/{fn}/invoke?qualifier={ALIAS}"
    process = subprocess.Popen(
        [sys.executable, __file__, "--_load", server.url, path, server.token, str(rate), str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the load generator did not start")
        yield
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    raw = json.loads(out.read_text())
    box.append(Traffic([Sample(*r) for r in raw["records"]], raw["connections"]))


# --------------------------------------------------------------------------------------------
# the API


def bundle(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("app.py", date_time=(2020, 1, 1, 0, 0, 0)), code)
    return buffer.getvalue()


def publish(api: httpx.Client, fn: str, code: str, environment: dict[str, str]) -> int:
    """Upload ``code`` as app.py, set the draft, publish; the new version's number."""
    uploaded = api.post("/v1/bundles", content=bundle(code))
    uploaded.raise_for_status()
    draft = {"bundle_sha256": uploaded.json()["sha256"], "handler": "app.handler", "environment": environment}
    api.put(f"/v1/functions/{fn}", json=draft).raise_for_status()
    published = api.post(f"/v1/functions/{fn}/versions")
    published.raise_for_status()
    return int(published.json()["version"])


def two_versions(
    api: httpx.Client, fn: str, candidate_code: str, trigger: Path, sleep_ms: float = 0.0
) -> tuple[int, int]:
    """A baseline and a candidate, ``prod`` on the baseline; their numbers."""
    environment = {"BENCH_TRIGGER": str(trigger), "BENCH_SLEEP_MS": f"{sleep_ms:g}"}
    baseline = publish(api, fn, BASELINE_CODE, environment)
    candidate = publish(api, fn, candidate_code, environment)
    api.put(f"/v1/functions/{fn}/aliases/{ALIAS}", json={"version": str(baseline)}).raise_for_status()
    return baseline, candidate


def rollout_path(fn: str) -> str:
    return f"/v1/functions/{fn}/aliases/{ALIAS}/rollout"


def view(api: httpx.Client, fn: str) -> dict[str, Any]:
    response = api.get(rollout_path(fn))
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def start_rollout(api: httpx.Client, fn: str, candidate: int, body: dict[str, Any]) -> None:
    response = api.post(rollout_path(fn), json={"to": candidate, **body})
    if response.status_code != 201:
        raise RuntimeError(f"rollout start -> {response.status_code}: {response.text[:500]}")


def wait_view(
    api: httpx.Client, fn: str, done: Callable[[dict[str, Any]], bool], timeout: float, every: float = 0.1
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = view(api, fn)
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(every)


@dataclass(frozen=True)
class Seen:
    """The first alias poll that showed the wanted target: when it was sent and answered (monotonic ns)."""

    sent: int
    done: int
    polls: int


def wait_alias(api: httpx.Client, fn: str, target: str, timeout: float) -> Seen | None:
    """Poll GET .../aliases/prod every POLL_S until its target is ``target``."""
    deadline, polls = time.monotonic_ns() + int(timeout * NS), 0
    while time.monotonic_ns() < deadline:
        sent = time.monotonic_ns()
        response = api.get(f"/v1/functions/{fn}/aliases/{ALIAS}")
        done, polls = time.monotonic_ns(), polls + 1
        response.raise_for_status()
        if response.json()["target"] == target:
            return Seen(sent, done, polls)
        time.sleep(max(0.0, POLL_S - (time.monotonic_ns() - sent) / NS))
    return None


def to_monotonic(at: str) -> int:
    """A server timestamp (ISO 8601, UTC wall clock) on this process's CLOCK_MONOTONIC (same machine)."""
    offset = time.time_ns() - time.monotonic_ns()
    return int(datetime.fromisoformat(at).timestamp() * NS) - offset


# --------------------------------------------------------------------------------------------
# 1) rollback time


@dataclass
class Rollback:
    """One rollback trial; times in seconds after t0 (``None``: not observed)."""

    kind: str  # "auto" or "abort"
    t1_alias: float | None = None  # the first alias poll answering the baseline alone (its answer)
    t1_last_candidate: float | None = None  # the last response the candidate served
    ack: float | None = None  # abort: the POST's answer
    decided: float | None = None  # the ROLL_BACK record's `at`
    first_failure: float | None = None
    enough_failures: float | None = None  # when the test had the failures it needed (computed)
    failures_needed: int | None = None
    failures_at_decision: int | None = None
    requests: int = 0  # user requests answered in [t0, t1]
    failed: int = 0  # ... not 200
    failed_after: int = 0  # non-200 answers after t1 (none expected)
    candidate_before: int = 0  # the candidate's invocations in the gates' window at t0
    state: str = ""
    reason: str = ""
    rate: float = 0.0
    late_ms_p99: float = 0.0
    connections: int = 0
    figures: dict[str, float] = field(default_factory=dict)


def failures_needed(figures: dict[str, float]) -> int | None:
    """The fewest failures that fail the relative error-rate gate, given the windows at the decision (the
    candidate's successes and the baseline's invocations and errors as they were then)."""
    try:
        n_c, rate_c = int(figures["candidate.invocations"]), figures["candidate.error_rate"]
        n_b, rate_b = int(figures["baseline.invocations"]), figures["baseline.error_rate"]
    except KeyError:
        return None
    successes = n_c - round(rate_c * n_c)
    margin, alpha = GATES["max_error_rate_increase"], 0.01
    for k in range(1, 100_000):
        n, rate = successes + k, k / (successes + k)
        if n < GATES["min_invocations"] or rate <= rate_b + margin:
            continue
        if increase_p_value(rate, n, rate_b, n_b, margin) < alpha:
            return k
    return None


def rollback_trial(server: BenchServer, root: Path, fn: str, config: Config, operator: bool) -> Rollback:
    trigger = root / f"trigger-{fn}"
    out = Rollback("abort" if operator else "auto")
    box: list[Traffic] = []
    with server.client() as api:
        baseline, candidate = two_versions(api, fn, CANDIDATE_CODE, trigger)
        with load(server, fn, config.rate, root, box):
            time.sleep(WARMUP_S)
            start_rollout(api, fn, candidate, CANARY)
            wait_view(api, fn, lambda v: v["state"] not in ("pending", "stepping"), 30)
            # baking was seen just after a tick: a random phase keeps t0 from locking onto the ticks
            time.sleep(SETTLE_S + config.rng.uniform(0, config.tick_s))
            before = wait_view(
                api, fn, lambda v: v["metrics"]["candidate"]["invocations"] >= GATES["min_invocations"], 10
            )
            out.candidate_before = before["metrics"]["candidate"]["invocations"]
            t0 = time.monotonic_ns()
            if operator:
                api.post(rollout_path(fn) + "/abort", json={"reason": "benchmark"}).raise_for_status()
                out.ack = (time.monotonic_ns() - t0) / NS
            else:
                trigger.touch()
            seen = wait_alias(api, fn, str(baseline), timeout=60)
            time.sleep(AFTER_S)
        final = wait_view(api, fn, lambda v: v["state"] in TERMINAL, 10)
    measure_rollback(out, box[0], t0, seen, final, str(candidate))
    return out


def measure_rollback(
    out: Rollback, traffic: Traffic, t0: int, seen: Seen | None, final: dict[str, Any], candidate: str
) -> None:
    """Fill ``out`` from the traffic and the rollout's final view."""
    secs: Callable[[int], float] = lambda ns: (ns - t0) / NS  # noqa: E731
    on_candidate = [s.done for s in traffic.samples if s.version == candidate]
    failures = sorted(s.done for s in traffic.between(t0, 2**63) if s.status != 200)
    out.t1_alias = secs(seen.done) if seen else None
    # before t0 (negative) when no request reached the candidate after t0
    out.t1_last_candidate = secs(max(on_candidate)) if on_candidate else None
    end = t0 + int(max(out.t1_alias or 1e9, out.t1_last_candidate or 0.0) * NS)
    interval = traffic.between(t0, end)
    out.requests, out.failed = len(interval), sum(s.status != 200 for s in interval)
    out.failed_after = sum(1 for f in failures if f > end)
    out.first_failure = secs(failures[0]) if failures else None
    out.state, out.reason = final["state"], final["reason"]
    out.rate, out.late_ms_p99, out.connections = traffic.rate, traffic.late_ms_p99, traffic.connections
    record = next((h for h in reversed(final["history"]) if h["action"] == "roll-back"), None)
    if record is not None:
        decided = to_monotonic(record["at"])
        out.decided = secs(decided)
        out.figures = record["figures"]
        out.failures_at_decision = sum(1 for f in failures if f <= decided)
        if out.kind == "auto":
            out.failures_needed = failures_needed(out.figures)
            k = out.failures_needed
            out.enough_failures = secs(failures[k - 1]) if k and len(failures) >= k else None


def bench_rollback(root: Path, config: Config) -> list[Rollback]:
    trials: list[Rollback] = []
    server = BenchServer(root / "rollback" / "data")
    with running(server):
        for k in range(config.repeat):
            order = [False, True] if k % 2 == 0 else [True, False]  # auto/abort, then abort/auto
            for operator in order:
                fn = f"bench-{'abort' if operator else 'auto'}-{k}"
                trial = rollback_trial(server, root, fn, config, operator)
                trials.append(trial)
                print(f"  {fn}: {describe_rollback(trial)}", flush=True)
    return trials


def describe_rollback(t: Rollback) -> str:
    t1 = "never" if t.t1_alias is None else f"{t.t1_alias:.3f} s"
    decided = "-" if t.decided is None else f"{t.decided:.3f} s"
    return (
        f"t1 (alias) {t1}, last candidate response {t.t1_last_candidate or 0:.3f} s, decided {decided}, "
        f"{t.failed}/{t.requests} failed, {t.state}; {t.rate:.0f} req/s; loadavg {os.getloadavg()[0]:.2f}"
    )


# --------------------------------------------------------------------------------------------
# 2) cold starts during a linear rollout


WARM, NO_WARM, NO_ROLLOUT = "warm", "no-warm", "no rollout"


@dataclass
class Cold:
    mode: str  # WARM, NO_WARM, or NO_ROLLOUT (the control: the same load and time, no rollout)
    versions: dict[str, str] = field(default_factory=dict)  # "baseline"/"candidate" -> its number
    requests: int = 0  # user requests sent during the rollout
    cold: dict[str, int] = field(default_factory=dict)  # by version
    served: dict[str, int] = field(default_factory=dict)  # by version
    statuses: dict[int, int] = field(default_factory=dict)  # non-200 answers during the rollout
    where: list[str] = field(default_factory=list)  # each cold start: version@seconds (candidate's share)
    warmup_cold: int = 0  # cold starts on the baseline while it warmed up, before the rollout
    seconds: float = 0.0
    state: str = ""
    rate: float = 0.0
    late_ms_p99: float = 0.0
    connections: int = 0

    @property
    def share(self) -> float:
        return sum(self.cold.values()) / self.requests if self.requests else 0.0


def cold_trial(server: BenchServer, root: Path, fn: str, config: Config, mode: str) -> Cold:
    out = Cold(mode)
    box: list[Traffic] = []
    with server.client() as api:
        trigger = root / f"trigger-{fn}"
        baseline, candidate = two_versions(api, fn, HEALTHY_CANDIDATE_CODE, trigger, config.sleep_ms)
        out.versions = {"baseline": str(baseline), "candidate": str(candidate)}
        with load(server, fn, config.rate, root, box):
            time.sleep(config.warmup_s)
            begin = time.monotonic_ns()
            if mode == NO_ROLLOUT:
                time.sleep(CONTROL_S)
                final: dict[str, Any] = {"state": "-", "history": []}
            else:
                start_rollout(api, fn, candidate, {**LINEAR, "warm": mode == WARM})
                final = wait_view(api, fn, lambda v: v["state"] in TERMINAL, 120, every=0.25)
            end = to_monotonic(final["history"][-1]["at"]) if final["history"] else time.monotonic_ns()
            time.sleep(0.5)
    traffic = box[0]
    during = traffic.between(begin, end, by="sent")
    out.requests, out.seconds, out.state = len(during), (end - begin) / NS, final["state"]
    out.cold = dict(Counter(s.version for s in during if s.cold))
    out.served = dict(Counter(s.version for s in during))
    out.statuses = dict(Counter(s.status for s in during if s.status != 200))
    out.warmup_cold = sum(s.cold for s in traffic.samples if s.sent < begin)
    out.where = [cold_start_at(s, begin, final["history"], traffic) for s in during if s.cold]
    out.rate, out.late_ms_p99, out.connections = traffic.rate, traffic.late_ms_p99, traffic.connections
    return out


def cold_start_at(sample: Sample, begin: int, history: list[dict[str, Any]], traffic: Traffic) -> str:
    """``vN@seconds (share, in flight, latency)``: when a cold start happened, the candidate's share then,
    how many other requests of this client were in flight when it was sent, and its latency."""
    share = 0
    for record in history:
        if record["routing"] is not None and to_monotonic(record["at"]) <= sample.sent:
            share = record["figures"].get("candidate_bp", 0) // 100
    busy = sum(1 for s in traffic.samples if s.sent < sample.sent < s.done)
    took = (sample.done - sample.sent) / 1e6
    return f"v{sample.version}@{(sample.sent - begin) / NS:.1f}s ({share}%, {busy} in flight, {took:.1f} ms)"


def bench_cold(root: Path, config: Config, control: bool) -> list[Cold]:
    trials: list[Cold] = []
    server = BenchServer(root / "cold" / "data")
    with running(server):
        for k in range(config.pairs):
            modes = [WARM, NO_WARM] if k % 2 == 0 else [NO_WARM, WARM]
            for mode in modes + ([NO_ROLLOUT] if control and k == 0 else []):
                fn = f"bench-linear-{mode.replace(' ', '-')}-{k}"
                trial = cold_trial(server, root, fn, config, mode)
                trials.append(trial)
                print(
                    f"  {fn}: {sum(trial.cold.values())}/{trial.requests} cold ({trial.share:.3%}) "
                    f"by version {trial.cold}, non-200 {trial.statuses}, {trial.state} in "
                    f"{trial.seconds:.1f} s; {trial.rate:.0f} req/s; loadavg {os.getloadavg()[0]:.2f}; "
                    f"cold starts: {', '.join(trial.where) or '-'}",
                    flush=True,
                )
    return trials


@contextmanager
def running(server: BenchServer) -> Iterator[BenchServer]:
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# report


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def seconds_row(label: str, values: list[float | None], base: list[float] | None = None) -> list[str]:
    """A table row of median/min/max seconds (``None`` values are left out and counted in n)."""
    known = [v for v in values if v is not None]
    if not known:
        return [label, f"0/{len(values)}", "-", "-", "-", "", "", "", ""]
    med, lo, hi = stats(known)
    n = str(len(known)) if len(known) == len(values) else f"{len(known)}/{len(values)}"
    row = [label, n, f"{med:.3f}", f"{lo:.3f}", f"{hi:.3f}", "", "", "", ""]
    if base:
        row[5], row[6] = f"{statistics.median(base):.3f}", f"{med / statistics.median(base):.1f}x"
    return row


def rollback_rows(trials: list[Rollback], verdicts: dict[str, bool]) -> list[list[str]]:
    auto = [t for t in trials if t.kind == "auto"]
    abort = [t for t in trials if t.kind == "abort"]
    base = [t.t1_alias for t in abort if t.t1_alias is not None]
    t1 = [t.t1_alias for t in auto]
    known = [v for v in t1 if v is not None]
    verdicts["1.rollback"] = len(known) == len(t1) and statistics.median(known) <= 10
    main = seconds_row("1) auto rollback t1-t0, alias poll (s)", list(t1), base)
    main[7], main[8] = "median <= 10 s", "PASS" if verdicts["1.rollback"] else "MISS"
    shares = [t.failed / t.requests for t in auto if t.requests]
    rows = [
        main,
        seconds_row("   t1-t0, last candidate response (s)", [t.t1_last_candidate for t in auto]),
        seconds_row("   t0 -> first failed response (s)", [t.first_failure for t in auto]),
        seconds_row("   t0 -> failures the test needs (s)", [t.enough_failures for t in auto]),
        seconds_row("   t0 -> decision (ROLL_BACK `at`) (s)", [t.decided for t in auto]),
        seconds_row("   decision -> alias poll sees it (s)", [_minus(t.t1_alias, t.decided) for t in auto]),
        count_row("   failed requests in [t0, t1]", [t.failed for t in auto]),
        count_row("   requests in [t0, t1]", [t.requests for t in auto]),
        share_row("   failed share in [t0, t1]", shares),
        count_row("   failures the test needed", [t.failures_needed or 0 for t in auto]),
        count_row("   failures by the decision", [t.failures_at_decision or 0 for t in auto]),
        seconds_row("1) operator abort t1-t0, alias poll (s)", list(base)),
        seconds_row("   abort POST acknowledged (s)", [t.ack for t in abort]),
        seconds_row("   last candidate response (s)", [t.t1_last_candidate for t in abort]),
    ]
    return rows


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def count_row(label: str, values: list[int]) -> list[str]:
    med, lo, hi = stats([float(v) for v in values])
    return [label, str(len(values)), f"{med:g}", f"{lo:g}", f"{hi:g}", "", "", "", ""]


def share_row(label: str, values: list[float]) -> list[str]:
    if not values:
        return [label, "0", "-", "-", "-", "", "", "", ""]
    med, lo, hi = stats(values)
    return [label, str(len(values)), f"{med:.2%}", f"{lo:.2%}", f"{hi:.2%}", "", "", "", ""]


def cold_rows(trials: list[Cold], verdicts: dict[str, bool]) -> list[list[str]]:
    warm = [t for t in trials if t.mode == WARM]
    cold = [t for t in trials if t.mode == NO_WARM]
    control = [t for t in trials if t.mode == NO_ROLLOUT]
    verdicts["2.cold_starts"] = all(t.share == 0 for t in warm)
    main = share_row("2) cold-start share, warm linear", [t.share for t in warm])
    base = statistics.median(t.share for t in cold)
    main[5] = f"{base:.2%}"
    main[6] = f"{statistics.median(t.share for t in warm) - base:+.2%}"
    main[7], main[8] = "0 (every run)", "PASS" if verdicts["2.cold_starts"] else "MISS"
    rows = [main]
    for label, group in ((WARM, warm), (NO_WARM, cold), (NO_ROLLOUT, control)):
        if label == NO_WARM:
            rows.append(share_row("2) cold-start share, warm=false (base)", [t.share for t in group]))
        if label == NO_ROLLOUT and group:
            rows.append(share_row("   control: same load, no rollout", [t.share for t in group]))
        if not group:
            continue
        rows.append(count_row(f"   {label}: requests in the interval", [t.requests for t in group]))
        for side in ("baseline", "candidate"):
            counts = [t.cold.get(t.versions[side], 0) for t in group]
            rows.append(count_row(f"   {label}: cold starts on the {side}", counts))
        rows.append(count_row(f"   {label}: non-200 answers", [sum(t.statuses.values()) for t in group]))
        rows.append(seconds_row(f"   {label}: interval (s)", [t.seconds for t in group]))
    return rows


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 rollback pairs, 1 linear pair (< 2 min)")
    parser.add_argument("--repeat", type=int, help="rollback trials of each kind (default 5; --quick 2)")
    parser.add_argument("--rate", type=float, default=200.0, help="invocations per second (200)")
    parser.add_argument("--only", choices=("1", "2"), action="append", help="run only these parts")
    parser.add_argument(
        "--sleep-ms", type=float, default=0.0, help="part 2: each invocation sleeps this long"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (the phase of t0 against the tick)")
    parser.add_argument("--json", type=Path, help="also write the raw trials to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folders and logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_load"]:
        _load_main(argv[1:])
        return 0
    args = parse(argv)
    tick_ms = Settings.from_environ({}).rollout_tick_ms
    config = Config(
        rate=args.rate,
        repeat=args.repeat or (2 if args.quick else 5),
        pairs=1 if args.quick else 2,
        warmup_s=2.0 if args.quick else 4.0,
        sleep_ms=args.sleep_ms,
        tick_s=tick_ms / 1000,
        rng=random.Random(args.seed),
    )
    only = set(args.only or "12")
    info = machine()
    print_header(args.quick, info, tick_ms, config)

    root = Path(tempfile.mkdtemp(prefix="turnout-bench-ro-"))
    timings: dict[str, float] = {}
    rollbacks: list[Rollback] = []
    colds: list[Cold] = []
    try:
        if "1" in only:
            t = time.perf_counter()
            print("1) rollback trials")
            rollbacks = bench_rollback(root, config)
            timings["1"] = time.perf_counter() - t
        if "2" in only:
            t = time.perf_counter()
            print("2) linear rollouts")
            colds = bench_cold(root, config, control=not args.quick)
            timings["2"] = time.perf_counter() - t
    finally:
        if args.keep:
            print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    verdicts: dict[str, bool] = {}
    rows = (rollback_rows(rollbacks, verdicts) if rollbacks else []) + (
        cold_rows(colds, verdicts) if colds else []
    )
    print()
    print(render(rows, ["metric", "n", "median", "min", "max", "baseline median", "ratio", "goal", "result"]))
    print()
    print_notes(rollbacks, colds, config.rate)
    print("phase times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("goals: " + ", ".join(f"{k} {'PASS' if v else 'MISS'}" for k, v in verdicts.items()))
    if args.json:
        summary = {
            "machine": info,
            "tick_ms": tick_ms,
            "quick": args.quick,
            "date": datetime.now(UTC).isoformat(),
            "rollbacks": [asdict(t) for t in rollbacks],
            "linear": [asdict(t) for t in colds],
            "phase_seconds": timings,
            "verdicts": verdicts,
        }
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


def print_header(quick: bool, info: dict[str, str], tick_ms: int, config: Config) -> None:
    print("Turnout rollout benchmark", "(quick)" if quick else "(full)")
    print(f"date     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    for key, value in info.items():
        print(f"{key:<8} {value}")
    print(f"tick     {tick_ms} ms (TURNOUT_ROLLOUT_TICK_MS unset: the shipped default)")
    print(f"load     {config.rate:g} req/s open-loop, POST /v1/functions/{{fn}}/invoke?qualifier={ALIAS}")
    print(
        f"1)       {json.dumps(CANARY)}; t0 after {SETTLE_S:g} s + U(0, 1 tick) baking; "
        f"{config.repeat} x auto + abort, interleaved"
    )
    print(
        f"2)       {json.dumps(LINEAR)}; warm true/false; {config.pairs} pair(s); {config.warmup_s:g} s "
        f"warm-up; handler sleeps {config.sleep_ms:g} ms{'' if quick else '; a control without rollout'}"
    )
    print()


def print_notes(rollbacks: list[Rollback], colds: list[Cold], rate: float) -> None:
    rates = [t.rate for t in rollbacks] + [t.rate for t in colds]
    lags = [t.late_ms_p99 for t in rollbacks] + [t.late_ms_p99 for t in colds]
    conns = [t.connections for t in rollbacks] + [t.connections for t in colds]
    print(
        f"load: achieved {min(rates):.1f}-{max(rates):.1f} req/s (target {rate:g}); send lag p99 "
        f"{max(lags):.1f} ms at worst; {max(conns)} connections at most"
    )
    auto = [t for t in rollbacks if t.kind == "auto"]
    if rollbacks:
        print(f"1: end states {dict(Counter(t.state for t in rollbacks))}")
        print(f"   candidate invocations in the gates' window at t0: {[t.candidate_before for t in auto]}")
        print(f"   non-200 answers after t1: {[t.failed_after for t in auto]}")
        print(f"   e.g. the controller's reason: {auto[0].reason}")
        print(
            "   t1 (alias poll): when the first GET .../aliases/prod answering the baseline alone returned "
            f"(polled every {POLL_S * 1000:.0f} ms);"
        )
        print("   'failures the test needs': the fewest failures the z-test needed on the windows at the")
        print("   decision, and when the client had received that many failed responses.")
    if colds:
        warmup = [t.warmup_cold for t in colds]
        print(f"2: cold starts on the baseline in the warm-up before each rollout: {warmup}")


if __name__ == "__main__":
    sys.exit(main())
