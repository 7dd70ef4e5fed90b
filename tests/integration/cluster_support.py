"""Test helpers for cluster mode: a fresh PostgreSQL database, real nodes on it, and a TCP proxy that can
cut one node off from PostgreSQL (as if the database were down for that node)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support import POSTGRES_URL, Server, free_port, wait_for


@contextmanager
def fresh_database(prefix: str = "turnout_cluster") -> Iterator[str]:
    """A PostgreSQL database of the test's own (dropped afterwards); yields its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class PgProxy:
    """A TCP proxy to PostgreSQL (tests/integration/pg_proxy.py, a process of its own); :meth:`cut` drops
    every connection and refuses new ones until :meth:`restore`. A node whose database URL points here sees
    PostgreSQL go down and come back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "tests.integration.pg_proxy",
            str(self.port),
            target[0],
            str(target[1]),
        ]
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def url(self, database_url: str) -> str:
        return (
            make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        )

    def cut(self) -> None:
        self.process.send_signal(signal.SIGUSR1)
        wait_for(lambda: not self._passing(), timeout=5, what="the proxy to cut")

    def restore(self) -> None:
        self.process.send_signal(signal.SIGUSR2)
        wait_for(self._passing, timeout=5, what="the proxy to let connections through")

    def _passing(self) -> bool:
        """A new connection is held open (passed on to PostgreSQL, which waits for us to speak)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as probe:
            probe.settimeout(0.2)
            try:
                return probe.recv(1) != b""
            except TimeoutError:
                return True
            except ConnectionError:
                return False

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def shared_key(folder: Path) -> dict[str, str]:
    """The one secret key every node of a cluster has (docs/security.md), made once in ``folder`` as an
    operator would hand it to each node: the setting that names it."""
    key = folder / "secret-key"
    if not key.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
        key.chmod(0o600)
    return {"TURNOUT_SECRET_KEY_FILE": str(key)}


NODE_ENV = {
    "TURNOUT_NODE_HEARTBEAT_S": "1",
    "TURNOUT_NODE_DEAD_AFTER_S": "4",
    "TURNOUT_TOKEN_CACHE_SECONDS": "2",
    "TURNOUT_ASYNC_LEASE_S": "10",
    "TURNOUT_ASYNC_POLL_MS": "200",
    "TURNOUT_DRAIN_S": "3",  # > HAProxy's 2 failed probes 1 s apart (examples/cluster/haproxy.cfg)
}


@dataclass
class Cluster:
    """Real `turnout serve` nodes on one PostgreSQL database, each with its own data folder."""

    root: Path
    database_url: str
    nodes: list[Server] = field(default_factory=list)

    def add(self, name: str, database_url: str | None = None, **env: str) -> Server:
        server = Server(
            self.root / name / "data",
            database_url=database_url or self.database_url,
            # every node of a cluster has the same secret key (docs/security.md): here, one file for all
            extra_env={
                **NODE_ENV,
                "TURNOUT_NODE_NAME": name,
                **shared_key(self.root),
                **env,
            },
        )
        self.nodes.append(server)
        return server

    def start(self, server: Server) -> Server:
        server.start(timeout=60)
        wait_for(
            lambda: httpx.get(server.url + "/v1/ready", timeout=2).status_code == 200,
            timeout=30,
            what=f"{server.url} ready",
        )
        return server

    @property
    def token(self) -> str:
        """The admin token: the first node wrote it; the store shares it with every node."""
        return self.nodes[0].token

    def client(self, server: Server) -> httpx.Client:
        return server.client(token=self.token)

    def stop(self) -> None:
        for server in self.nodes:
            server.kill()


HAPROXY = Path(__file__).resolve().parents[2] / "examples" / "cluster" / "haproxy.cfg"


def haproxy_config(ports: list[int], listen: int) -> str:
    """The shipped example configuration (examples/cluster/haproxy.cfg) with this run's ports."""
    text = HAPROXY.read_text()
    lines = [line for line in text.splitlines() if not line.strip().startswith("server node")]
    at = next(i for i, line in enumerate(lines) if "http-check expect" in line) + 1
    servers = [
        f"    server node{i + 1} 127.0.0.1:{port} check inter 1s fall 2 rise 2"
        for i, port in enumerate(ports)
    ]
    lines[at:at] = servers
    return "\n".join(lines).replace("bind *:8080", f"bind 127.0.0.1:{listen}") + "\n"


@contextmanager
def haproxy(folder: Path, ports: list[int]) -> Iterator[str]:
    """HAProxy with the example configuration in front of ``ports``; yields its URL."""
    listen = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(ports, listen))
    process = subprocess.Popen(
        ["haproxy", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{listen}"
    try:
        wait_for(
            lambda: httpx.get(url + "/v1/ready", timeout=1).status_code == 200, timeout=15, what="haproxy"
        )
        yield url
    finally:
        process.terminate()
        process.wait(10)
