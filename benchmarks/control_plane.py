"""Control-plane latency benchmarks against real `turnout serve` processes (SQLite default).

Run from the repository root:

    .venv/bin/python benchmarks/control_plane.py            # full run, ~2-3 minutes
    .venv/bin/python benchmarks/control_plane.py --quick    # smoke run, < 30 s

Goals (each compared with a baseline measured in the same run, interleaved sample by sample):

  a) publish a new version of a small bundle: p50 <= 50 ms      (baseline: GET /v1/health)
  b) move an alias (single <-> split weights): p50 <= 5 ms       (baseline: GET /v1/health)
  c) GET .../versions and GET /v1/functions/{fn} with 10,000 functions x 10 versions:
     p50 no worse than 2x the same request with 10 functions x 10 versions

Every request goes over one keep-alive httpx connection per server; the health baseline uses the
same connection, so the ratio shows what the operation costs beyond HTTP + FastAPI + client.
The script prints PASS/MISS per goal; its exit status does not depend on the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
from tests.support import HELLO, Server, deploy, free_port, make_zip  # noqa: E402

from turnout.blobs import FileBlobStore  # noqa: E402
from turnout.build.bundle import BundleLimits, inspect_bundle  # noqa: E402
from turnout.domain.config import FunctionConfig, fingerprint  # noqa: E402
from turnout.domain.routing import Routing  # noqa: E402
from turnout.store import open_store  # noqa: E402
from turnout.store.schema import alias_history, alias_routes, aliases, bundles, functions, versions  # noqa: E402

MS = 1e-6  # ns -> ms


# --------------------------------------------------------------------------------------------
# statistics


@dataclass
class Series:
    """Latencies of one kind of request, in milliseconds."""

    name: str
    samples: list[float] = field(default_factory=list)

    def add_ns(self, ns: int) -> None:
        self.samples.append(ns * MS)

    @property
    def n(self) -> int:
        return len(self.samples)

    def pct(self, p: float) -> float:
        """Percentile by linear interpolation between closest ranks (numpy's default)."""
        data = sorted(self.samples)
        if not data:
            return float("nan")
        k = (len(data) - 1) * p / 100
        lo, hi = int(k), min(int(k) + 1, len(data) - 1)
        return data[lo] + (data[hi] - data[lo]) * (k - lo)

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p90(self) -> float:
        return self.pct(90)

    @property
    def p99(self) -> float:
        return self.pct(99)

    def summary(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "p50_ms": round(self.p50, 3),
            "p90_ms": round(self.p90, 3),
            "p99_ms": round(self.p99, 3),
            "min_ms": round(min(self.samples), 3) if self.samples else None,
            "max_ms": round(max(self.samples), 3) if self.samples else None,
            "mean_ms": round(statistics.fmean(self.samples), 3) if self.samples else None,
        }


def timed(
    client: httpx.Client, method: str, url: str, expect: tuple[int, ...] = (200,), **kw: Any
) -> tuple[int, httpx.Response]:
    """One request; returns (elapsed ns, response) and checks the status."""
    start = time.perf_counter_ns()
    response = client.request(method, url, **kw)
    elapsed = time.perf_counter_ns() - start
    if response.status_code not in expect:
        raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text[:500]}")
    return elapsed, response


def health(client: httpx.Client, into: Series | None) -> None:
    elapsed, _ = timed(client, "GET", "/v1/health")
    if into is not None:
        into.add_ns(elapsed)


# --------------------------------------------------------------------------------------------
# servers


class BenchServer(Server):
    """``Server`` that notices at once when the process exits, shows its log, and retries on a new port.

    (A port picked by ``free_port`` can be taken by some other socket before the server binds it.)
    """

    def start(self, timeout: float = 120.0, attempts: int = 3) -> BenchServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            self.log_path = self.data_dir.parent / f"server-{self.port}.log"
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "turnout", "serve"], env=self.env, stdout=log, stderr=log
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
            self.kill()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            print(
                f"server on port {self.port} failed to start (attempt {attempt}, exit "
                f"{self.process.returncode}); log tail:\n{tail}",
                file=sys.stderr,
            )
            self.port = free_port()
        raise RuntimeError(f"turnout serve did not start after {attempts} attempts")


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


def client_for(server: Server) -> httpx.Client:
    # One connection, kept alive: baseline and measured requests share it.
    return server.client(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


# --------------------------------------------------------------------------------------------
# a) publish


def bench_publish(root: Path, samples: int, warmup: int, cycles: int) -> dict[str, Series]:
    out = {
        k: Series(k)
        for k in ("health", "publish", "draft_put", "cycle", "cycle_upload", "cycle_put", "cycle_publish")
    }
    with running(BenchServer(root / "publish" / "data")) as server, client_for(server) as api:
        name = "bench-publish"
        deploy(api, name, environment={"BENCH_N": "0"})
        timed(api, "POST", f"/v1/functions/{name}/versions", expect=(201,))
        counter = 0

        def one_publish(record: bool) -> None:
            nonlocal counter
            counter += 1
            # Change the draft (untimed for the goal; reported as draft_put) so the publish is new.
            put_ns, _ = timed(
                api, "PUT", f"/v1/functions/{name}", json={"environment": {"BENCH_N": str(counter)}}
            )
            health(api, out["health"] if record else None)
            pub_ns, response = timed(api, "POST", f"/v1/functions/{name}/versions", expect=(201,))
            body = response.json()
            if not body["created"] or body["version"] != counter + 1:
                raise RuntimeError(f"publish did not create version {counter + 1}: {body}")
            if record:
                out["draft_put"].add_ns(put_ns)
                out["publish"].add_ns(pub_ns)

        for _ in range(warmup):
            one_publish(False)
        for _ in range(samples):
            one_publish(True)

        # Full cycle: upload a new tiny bundle, point the draft at it, publish.
        cycle_name = "bench-cycle"
        deploy(api, cycle_name)
        for i in range(warmup + cycles):
            data = make_zip({"app.py": HELLO + f"# cycle {i} {uuid.uuid4().hex}\n"})
            t0 = time.perf_counter_ns()
            up_ns, up = timed(
                api,
                "POST",
                "/v1/bundles",
                expect=(201,),
                content=data,
                headers={"Content-Type": "application/zip"},
            )
            put_ns, _ = timed(
                api, "PUT", f"/v1/functions/{cycle_name}", json={"bundle_sha256": up.json()["sha256"]}
            )
            pub_ns, response = timed(api, "POST", f"/v1/functions/{cycle_name}/versions", expect=(201,))
            total = time.perf_counter_ns() - t0
            if not response.json()["created"]:
                raise RuntimeError("cycle publish did not create a version")
            if i >= warmup:
                out["cycle"].add_ns(total)
                out["cycle_upload"].add_ns(up_ns)
                out["cycle_put"].add_ns(put_ns)
                out["cycle_publish"].add_ns(pub_ns)
    return out


# --------------------------------------------------------------------------------------------
# b) alias updates

ALIAS_STATES: list[dict[str, Any]] = [
    {"version": "1"},
    {"weights": {"1": 90, "2": 10}},
    {"version": "2"},
    {"weights": {"2": 50, "3": 50}},
    {"version": "3"},
    {"weights": {"1": 20, "3": 80}},
]


def bench_alias(root: Path, samples: int, warmup: int) -> dict[str, Series]:
    out = {k: Series(k) for k in ("health", "alias", "alias_single", "alias_split")}
    with running(BenchServer(root / "alias" / "data")) as server, client_for(server) as api:
        name = "bench-alias"
        for i in range(3):
            deploy(api, name, environment={"V": str(i)})
            timed(api, "POST", f"/v1/functions/{name}/versions", expect=(201,))
        timed(api, "PUT", f"/v1/functions/{name}/aliases/live", expect=(201,), json={"version": "3"})
        for i in range(warmup + samples):
            state = ALIAS_STATES[i % len(ALIAS_STATES)]
            record = i >= warmup
            health(api, out["health"] if record else None)
            ns, response = timed(
                api, "PUT", f"/v1/functions/{name}/aliases/live", json={**state, "reason": "bench"}
            )
            got = [r["version"] for r in response.json()["routing"]]
            want = [state["version"]] if "version" in state else sorted(state["weights"])
            if got != want:
                raise RuntimeError(f"alias routing {got}, expected {want}")
            if record:
                out["alias"].add_ns(ns)
                out["alias_split" if "weights" in state else "alias_single"].add_ns(ns)
    return out


# --------------------------------------------------------------------------------------------
# c) reads at scale: seed directly through the store


def seed(data_dir: Path, n_functions: int, n_versions: int) -> tuple[list[str], float]:
    """Fill a fresh store with functions x versions, an alias each, in one transaction.

    Row shapes are those the services write (store/functions.py, versions.py, aliases.py).
    """
    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{(data_dir / 'turnout.db').resolve()}")
    zipped = make_zip({"app.py": HELLO})
    manifest = inspect_bundle(zipped, BundleLimits(50 << 20, 250 << 20, 20_000, 100))
    FileBlobStore(data_dir / "blobs").put(zipped)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    names = [f"fn-{i:05d}" for i in range(n_functions)]
    fn_rows, version_rows, alias_rows, route_rows, history_rows = [], [], [], [], []
    for fid, name in enumerate(names, start=1):
        created = base + timedelta(seconds=fid)
        configs = [
            FunctionConfig(handler="app.handler", environment={"V": str(v)}) for v in range(1, n_versions + 1)
        ]
        fn_rows.append(
            {
                "id": fid,
                "name": name,
                "bundle_sha256": manifest.sha256,
                "config": configs[-1].to_json(),
                "dependencies": [],
                "revision_id": str(uuid.uuid4()),
                "last_version": n_versions,
                "created_at": created,
                "updated_at": created,
            }
        )
        for number, config in enumerate(configs, start=1):
            version_rows.append(
                {
                    "function_id": fid,
                    "number": number,
                    "bundle_sha256": manifest.sha256,
                    "config": config.to_json(),
                    "dependencies": [],
                    "fingerprint": fingerprint(manifest.sha256, config, ()),
                    "description": "",
                    "revision_id": str(uuid.uuid4()),
                    "created_at": created + timedelta(milliseconds=number),
                }
            )
        routing = Routing.single(n_versions)
        alias_rows.append(
            {
                "function_id": fid,
                "name": "live",
                "description": "",
                "settings": {},
                "secret_keys": [],
                "revision_id": str(uuid.uuid4()),
                "created_at": created,
                "updated_at": created,
            }
        )
        route_rows.append(
            {"function_id": fid, "alias_name": "live", "version": n_versions, "weight_bp": 10_000}
        )
        history_rows.append(
            {
                "function_id": fid,
                "alias_name": "live",
                "action": "create",
                "before": None,
                "after": routing.to_json(),
                "actor": "admin",
                "reason": "",
                "details": {},
                "at": created,
            }
        )
    with store.write() as tx:
        tx.conn.execute(
            bundles.insert(),
            [
                {
                    "sha256": manifest.sha256,
                    "zipped_bytes": manifest.zipped_bytes,
                    "unpacked_bytes": manifest.unpacked_bytes,
                    "files": manifest.files,
                    "dependencies": list(manifest.dependencies),
                    "uploaded_at": base,
                }
            ],
        )
        for table, rows in (
            (functions, fn_rows),
            (versions, version_rows),
            (aliases, alias_rows),
            (alias_routes, route_rows),
            (alias_history, history_rows),
        ):
            for i in range(0, len(rows), 20_000):
                tx.conn.execute(table.insert(), rows[i : i + 20_000])
    with store.read() as tx:  # sanity: what we wrote reads back through the repositories
        fn = tx.functions.get(names[-1])
        assert fn is not None and fn.last_version == n_versions
        assert len(tx.versions.list(fn.id)) == n_versions
        assert tx.aliases.get(fn.id, "live") is not None
        assert tx.functions.count() == n_functions
    store.close()
    return names, time.perf_counter() - started


def bench_reads(
    root: Path, sizes: list[int], n_versions: int, requests: int, warmup: int, rng: random.Random
) -> tuple[dict[str, Series], dict[int, float]]:
    """Seed one store per size, run all servers at once, and interleave requests across them."""
    out: dict[str, Series] = {}
    seed_seconds: dict[int, float] = {}
    names: dict[int, list[str]] = {}
    for size in sizes:
        names[size], seed_seconds[size] = seed(root / f"reads-{size}" / "data", size, n_versions)
        for kind in ("health", "versions", "describe"):
            out[f"{kind}@{size}"] = Series(f"{kind}@{size}")
    servers: dict[int, BenchServer] = {}
    try:
        for size in sizes:  # each picks its port just before it starts
            servers[size] = BenchServer(root / f"reads-{size}" / "data").start(timeout=120)
        clients = {size: client_for(s) for size, s in servers.items()}
        try:

            def round_(record: bool) -> None:
                order = list(sizes)
                rng.shuffle(order)
                for size in order:
                    api, fn = clients[size], rng.choice(names[size])
                    health(api, out[f"health@{size}"] if record else None)
                    ns, r = timed(api, "GET", f"/v1/functions/{fn}/versions")
                    if len(r.json()["versions"]) != n_versions:
                        raise RuntimeError(f"{fn}: expected {n_versions} versions")
                    if record:
                        out[f"versions@{size}"].add_ns(ns)
                    fn = rng.choice(names[size])
                    ns, r = timed(api, "GET", f"/v1/functions/{fn}")
                    if r.json()["versions"]["count"] != n_versions:
                        raise RuntimeError(f"{fn}: describe shows the wrong version count")
                    if record:
                        out[f"describe@{size}"].add_ns(ns)

            for _ in range(warmup):
                round_(False)
            for _ in range(requests):
                round_(True)
        finally:
            for c in clients.values():
                c.close()
    finally:
        for server in servers.values():
            server.stop()
    return out, seed_seconds


# --------------------------------------------------------------------------------------------
# report


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "-"

    return {
        "nproc": str(affinity),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(
            f"{p} {version(p)}"
            for p in ("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "httpx")
        ),
        "tmp": tempfile.gettempdir(),
        "commit": _git_head(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True, text=True
        )
        return out.stdout.strip() + (" (src modified)" if dirty.stdout.strip() else "")
    except OSError:
        return "-"


def fmt(x: float) -> str:
    return f"{x:.2f}"


def render(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few samples, a smoke run (< 30 s)")
    parser.add_argument("--json", type=Path, help="also write the raw summary to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folders")
    parser.add_argument("--seed", type=int, default=1, help="random seed for choosing functions")
    parser.add_argument("--only", choices=("a", "b", "c"), action="append", help="run only these goals")
    args = parser.parse_args(argv)

    if args.quick:
        n_pub, n_cycle, n_alias, n_reads, warm = 40, 20, 60, 80, 10
        sizes = [10, 10_000]
    else:
        n_pub, n_cycle, n_alias, n_reads, warm = 300, 100, 300, 500, 30
        sizes = [10, 10_000]
    only = set(args.only or "abc")
    rng = random.Random(args.seed)

    info = machine()
    print("Turnout control-plane benchmark", "(quick)" if args.quick else "(full)")
    print(f"date     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    for key, value in info.items():
        print(f"{key:<8} {value}")
    print()

    root = Path(tempfile.mkdtemp(prefix="turnout-bench-"))
    results: dict[str, Series] = {}
    seeds: dict[int, float] = {}
    timings: dict[str, float] = {}
    try:
        if "a" in only:
            t = time.perf_counter()
            results.update({f"a.{k}": v for k, v in bench_publish(root, n_pub, warm, n_cycle).items()})
            timings["a"] = time.perf_counter() - t
        if "b" in only:
            t = time.perf_counter()
            results.update({f"b.{k}": v for k, v in bench_alias(root, n_alias, warm).items()})
            timings["b"] = time.perf_counter() - t
        if "c" in only:
            t = time.perf_counter()
            reads, seeds = bench_reads(root, sizes, 10, n_reads, warm, rng)
            results.update({f"c.{k}": v for k, v in reads.items()})
            timings["c"] = time.perf_counter() - t
    finally:
        if args.keep:
            print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    header = [
        "metric",
        "n",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "baseline p50 ms",
        "ratio p50",
        "ratio p99",
        "goal",
        "result",
    ]
    rows: list[list[str]] = []
    verdicts: dict[str, bool] = {}

    def row(label: str, s: Series, base: Series | None, goal: str = "", ok: bool | None = None) -> None:
        rows.append(
            [
                label,
                str(s.n),
                fmt(s.p50),
                fmt(s.p90),
                fmt(s.p99),
                fmt(base.p50) if base else "",
                f"{s.p50 / base.p50:.2f}x" if base else "",
                f"{s.p99 / base.p99:.2f}x" if base else "",
                goal,
                "" if ok is None else ("PASS" if ok else "MISS"),
            ]
        )

    if "a" in only:
        h = results["a.health"]
        row("health (baseline a)", h, None)
        verdicts["a"] = results["a.publish"].p50 <= 50
        row("a) publish (POST versions)", results["a.publish"], h, "p50 <= 50 ms", verdicts["a"])
        row("   draft PUT before it", results["a.draft_put"], h)
        row("   cycle upload+PUT+publish", results["a.cycle"], h)
        row("     cycle: upload bundle", results["a.cycle_upload"], h)
        row("     cycle: PUT draft", results["a.cycle_put"], h)
        row("     cycle: publish", results["a.cycle_publish"], h)
    if "b" in only:
        h = results["b.health"]
        row("health (baseline b)", h, None)
        verdicts["b"] = results["b.alias"].p50 <= 5
        row("b) alias PUT (all)", results["b.alias"], h, "p50 <= 5 ms", verdicts["b"])
        row("   alias PUT single", results["b.alias_single"], h)
        row("   alias PUT split", results["b.alias_split"], h)
    if "c" in only:
        small, large = sizes[0], sizes[-1]
        for size in sizes:
            row(f"health @{size} fns (info)", results[f"c.health@{size}"], None)
        for kind in ("versions", "describe"):
            base = results[f"c.{kind}@{small}"]
            big = results[f"c.{kind}@{large}"]
            ok = big.p50 <= 2 * base.p50
            verdicts[f"c.{kind}"] = ok
            row(f"c) {kind} @{small} fns (baseline)", base, None)
            row(f"c) {kind} @{large} fns", big, base, f"p50 <= 2x @{small}", ok)

    print(render(rows, header))
    print()
    print("baseline for a/b: GET /v1/health on the same keep-alive connection, interleaved with the samples;")
    print(f"baseline for c: the same request, {sizes[0]} functions x 10 versions, interleaved.")
    if seeds:
        print("seeding: " + ", ".join(f"{s} fns x 10 versions in {t:.1f} s" for s, t in seeds.items()))
    print("phase times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("goals: " + ", ".join(f"{k} {'PASS' if v else 'MISS'}" for k, v in verdicts.items()))

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "quick": args.quick,
                    "date": datetime.now(UTC).isoformat(),
                    "results": {k: v.summary() for k, v in results.items()},
                    "seed_seconds": seeds,
                    "phase_seconds": timings,
                    "verdicts": verdicts,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
