"""Kill -9 the server while clients publish and move aliases; the data must stay consistent.

After every crash (with the server down) and at the end, the store is checked directly: aliases only
route to versions that exist with weights summing to 100%, every version's bundle row and blob exist and
the blob still hashes to its sha256, version numbers are unique and never behind ``last_version``, and
every publish a client saw acknowledged is still there (or was removed by gc, never replaced).
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.store.pg import postgres_schema
from tests.support import HELLO, Server, make_wheelhouse, make_zip, wait_for
from turnout.blobs import BlobStore, FileBlobStore
from turnout.cluster.blobs import PostgresBlobStore
from turnout.store import Store, open_store
from turnout.store.schema import alias_routes, aliases, bundles, functions, versions

pytestmark = pytest.mark.integration

FN = "crashy"
CRASHES = 5
# Answers a client may get while others race it; anything else (a 400, a 500) is a bug.
EXPECTED = {200, 201, 204, 404, 409, 412}


@dataclass
class Run:
    """What the client threads share with the test."""

    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0  # successful changes
    acknowledged: dict[int, str] = field(default_factory=dict)  # version -> code sha256 of a 201
    unexpected: list[str] = field(default_factory=list)

    def count(self) -> None:
        with self.lock:
            self.done += 1

    def expect(self, response: httpx.Response, what: str) -> bool:
        """True when ``response`` succeeded; records any answer that is not an allowed refusal."""
        if response.status_code not in EXPECTED:
            with self.lock:
                self.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")
        return response.status_code in (200, 201, 204)


def _publisher(server: Server, run: Run, worker: int) -> None:
    rng = random.Random(worker)
    with server.client() as api:
        n = 0
        while not run.stop.is_set():
            n += 1
            files = {"app.py": HELLO + f"# writer {worker} change {n}\n"}
            if rng.random() < 0.3:
                files["requirements.txt"] = f"tinydep=={rng.choice(['1.0', '2.0'])}\n"  # a layer each
            try:
                upload = api.post("/v1/bundles", content=make_zip(files))
                if not run.expect(upload, "upload"):
                    continue
                sha = upload.json()["sha256"]
                draft = api.put(
                    f"/v1/functions/{FN}",
                    json={"bundle_sha256": sha, "environment": {"WRITER": f"{worker}-{n}"}},
                )
                if not run.expect(draft, "deploy"):
                    continue
                published = api.post(f"/v1/functions/{FN}/versions", json={"code_sha256": sha})
                if run.expect(published, "publish"):
                    body = published.json()
                    assert body["code_sha256"] == sha, body
                    if published.status_code == 201:
                        with run.lock:
                            run.acknowledged[body["version"]] = sha
                    run.count()
            except httpx.TransportError:
                time.sleep(0.25)  # the server is down: try again soon


def _aliaser(server: Server, run: Run, worker: int) -> None:
    rng = random.Random(100 + worker)
    with server.client() as api:
        while not run.stop.is_set():
            try:
                listed = api.get(f"/v1/functions/{FN}/versions")
                if not run.expect(listed, "list versions"):
                    continue
                numbers = [v["version"] for v in listed.json()["versions"]]
                op = rng.choice(["single", "split", "split3", "swap", "rollback", "gc"])
                if op == "single":
                    body = {"version": rng.choice(numbers), "reason": "move"}
                    response = api.put(f"/v1/functions/{FN}/aliases/prod", json=body)
                elif op in ("split", "split3") and len(numbers) >= 3:
                    picked = rng.sample(numbers, 2 if op == "split" else 3)
                    weights = [90, 10] if op == "split" else ["33.33", "33.33", "33.34"]
                    body = {"weights": {str(v): w for v, w in zip(picked, weights, strict=True)}}
                    response = api.put(f"/v1/functions/{FN}/aliases/canary", json=body)
                elif op == "swap":
                    response = api.post(f"/v1/functions/{FN}/swap", json={"a": "prod", "b": "canary"})
                elif op == "rollback":
                    response = api.post(f"/v1/functions/{FN}/aliases/prod/rollback", json={})
                elif op == "gc":
                    body = {"keep": 3, "blob_grace_seconds": 2}
                    response = api.post(f"/v1/functions/{FN}/gc", json=body)
                else:
                    continue
                if run.expect(response, op):
                    run.count()
            except httpx.TransportError:
                time.sleep(0.25)


def check_store(store: Store, blobs: BlobStore, acknowledged: dict[int, str]) -> None:
    """Every invariant the store promises, read straight from the database."""
    with store.read() as tx:
        conn = tx.conn
        fns = conn.execute(select(functions.c.id, functions.c.last_version, functions.c.bundle_sha256)).all()
        assert fns, "the function survived"
        duplicates = conn.execute(
            select(versions.c.function_id, versions.c.number)
            .group_by(versions.c.function_id, versions.c.number)
            .having(func.count() > 1)
        ).all()
        assert duplicates == []
        for function_id, last_version, draft_sha in fns:
            numbers = (
                conn.execute(select(versions.c.number).where(versions.c.function_id == function_id))
                .scalars()
                .all()
            )
            assert last_version >= max(numbers, default=0)
            assert last_version >= max(acknowledged, default=0), "an acknowledged publish was lost"
            assert conn.execute(select(bundles.c.sha256).where(bundles.c.sha256 == draft_sha)).first()
            assert blobs.get(draft_sha)  # exists and verifies
        for number, bundle_sha in conn.execute(select(versions.c.number, versions.c.bundle_sha256)).all():
            assert conn.execute(select(bundles.c.sha256).where(bundles.c.sha256 == bundle_sha)).first(), (
                f"version {number} has no bundle row"
            )
            assert blobs.get(bundle_sha), f"version {number}'s blob is missing or corrupted"
            if number in acknowledged:
                assert bundle_sha == acknowledged[number], f"version {number} was reused for other code"
        dangling = conn.execute(
            select(alias_routes.c.alias_name, alias_routes.c.version)
            .outerjoin(
                versions,
                (versions.c.function_id == alias_routes.c.function_id)
                & (versions.c.number == alias_routes.c.version),
            )
            .where(alias_routes.c.version.is_not(None), versions.c.number.is_(None))
        ).all()
        assert dangling == [], "an alias routes to a version that does not exist"
        weights = dict(
            conn.execute(
                select(aliases.c.name, func.coalesce(func.sum(alias_routes.c.weight_bp), 0))
                .outerjoin(
                    alias_routes,
                    (alias_routes.c.function_id == aliases.c.function_id)
                    & (alias_routes.c.alias_name == aliases.c.name),
                )
                .group_by(aliases.c.function_id, aliases.c.name)
            ).all()
        )
        assert set(weights) == {"prod", "canary"}
        assert all(total == 10000 for total in weights.values()), weights
        if store.dialect == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def check_api(api: httpx.Client) -> None:
    listed = api.get(f"/v1/functions/{FN}/versions")
    assert listed.status_code == 200
    numbers = [v["version"] for v in listed.json()["versions"]]
    assert len(numbers) == len(set(numbers))
    described = api.get(f"/v1/functions/{FN}").json()
    assert described["last_version"] >= max(numbers)
    for alias in api.get(f"/v1/functions/{FN}/aliases").json()["aliases"]:
        assert sum(r["weight_bp"] for r in alias["routing"]) == 10000, alias
        for route in alias["routing"]:
            assert api.get(f"/v1/functions/{FN}/versions/{route['version']}").status_code == 200, alias
    for version in listed.json()["versions"][-3:]:
        assert api.get(f"/v1/bundles/{version['code_sha256']}").status_code == 200


@contextmanager
def running_threads(targets: list[Callable[[], None]], run: Run) -> Iterator[None]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        run.stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a client thread hung"


def blobs_of(server: Server, store: Store) -> BlobStore:
    """Where the server keeps bundles: its folder on SQLite; on PostgreSQL the store itself, read through
    an empty cache so every check reads the rows."""
    if store.dialect != "postgresql":
        return FileBlobStore(server.data_dir / "blobs")
    return PostgresBlobStore(store, FileBlobStore(Path(tempfile.mkdtemp(dir=server.data_dir.parent))))


def crash_repeatedly(server: Server, open_db: Callable[[], Store], seed: int) -> None:
    rng = random.Random(seed)
    wheels = make_wheelhouse(server.data_dir.parent / "wheels")
    server.extra_env.update(TURNOUT_OFFLINE="1", TURNOUT_WHEEL_DIR=str(wheels))
    server.start()
    with server.client() as api:
        for n in (1, 2, 3):
            upload = api.post("/v1/bundles", content=make_zip({"app.py": HELLO + f"# seed {n}\n"}))
            body = {"bundle_sha256": upload.json()["sha256"], "handler": "app.handler"}
            assert api.put(f"/v1/functions/{FN}", json=body).status_code in (200, 201)
            assert api.post(f"/v1/functions/{FN}/versions", json={}).status_code == 201
        assert api.put(f"/v1/functions/{FN}/aliases/prod", json={"version": 1}).status_code == 201
        assert api.put(f"/v1/functions/{FN}/aliases/canary", json={"version": 2}).status_code == 201

    run = Run()
    workers: list[Callable[[], None]] = [
        *(lambda w=w: _publisher(server, run, w) for w in range(2)),
        *(lambda w=w: _aliaser(server, run, w) for w in range(2)),
    ]
    with running_threads(workers, run):
        for _ in range(CRASHES):
            target = run.done + rng.randint(4, 20)
            wait_for(lambda t=target: run.done >= t, timeout=30, what=f"{target} changes")
            server.kill()  # SIGKILL, mid-flight
            store = open_db()
            try:
                with run.lock:
                    acknowledged = dict(run.acknowledged)
                check_store(store, blobs_of(server, store), acknowledged)
            finally:
                store.close()
            server.start()
    assert run.unexpected == []
    assert run.acknowledged, "some publishes must have been acknowledged"

    with server.client() as api:
        check_api(api)
        # The server is fully usable after all those crashes.
        upload = api.post("/v1/bundles", content=make_zip({"app.py": HELLO + "# after\n"}))
        api.put(f"/v1/functions/{FN}", json={"bundle_sha256": upload.json()["sha256"]})
        new = api.post(f"/v1/functions/{FN}/versions", json={})
        assert new.status_code == 201 and new.json()["version"] > max(run.acknowledged)
        assert api.put(f"/v1/functions/{FN}/aliases/prod", json={"version": new.json()["version"]}).is_success
    server.stop()
    store = open_db()
    try:
        check_store(store, blobs_of(server, store), run.acknowledged)
    finally:
        store.close()


@pytest.mark.timeout(120)
def test_sigkill_during_publishes_and_alias_moves_leaves_sqlite_consistent(fresh_server: Server) -> None:
    url = f"sqlite:///{fresh_server.data_dir / 'turnout.db'}"
    crash_repeatedly(fresh_server, lambda: open_store(url, migrate=False), seed=1)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_sigkill_during_publishes_and_alias_moves_leaves_postgresql_consistent(tmp_path: Path) -> None:
    with postgres_schema() as url:
        server = Server(tmp_path / "data", database_url=url)
        try:
            crash_repeatedly(server, lambda: open_store(url, migrate=False), seed=2)
        finally:
            server.kill()
