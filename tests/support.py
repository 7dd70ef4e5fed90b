"""Test helpers: start a real `turnout serve` process, build zips, poll until a deadline.

Workers run sandboxed (docs/security.md): a function sees none of the tests' files, so a function and a
test share state through a local HTTP server in the test process instead: :class:`Flag` (a yes/no, with
``FLAG_CODE`` in the function) and :class:`Recorder` (an append-only list of JSON values that also counts
attempts, with ``RECORD_CODE``). Never hand a function a file path to write or read.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx

T = TypeVar("T")
POSTGRES_URL = os.environ.get(
    "TURNOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HELLO = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
# What a probe function runs for ``event["started"]`` (set that flag) and ``event["wait_for"]`` (wait up to
# 20 s until that flag is set): flags are URLs of a local HTTP server (:class:`Flag`), since a sandboxed
# worker sees no file of the tests'.
FLAG_CODE = """\
def _set_flag(url):
    import urllib.request
    urllib.request.urlopen(url + "?set=1", timeout=10).close()


def _flag_is_set(url):
    import urllib.error
    import urllib.request
    try:
        urllib.request.urlopen(url, timeout=10).close()
        return True
    except urllib.error.HTTPError:
        return False
"""
# What a function runs to share records with a test (:class:`Recorder`): ``_record(url, value)`` appends a
# JSON value and answers how many records the URL holds now (one atomic step, so it counts attempts);
# ``_records(url)`` reads them all back, oldest first.
RECORD_CODE = """\
def _record(url, value):
    import json
    import urllib.request
    request = urllib.request.Request(url, data=json.dumps(value).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["count"]


def _records(url):
    import json
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
"""


def wait_for(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.02, what: str = "") -> T:
    """Call ``check`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what or check}: last error {last!r}")


class _Flags(http.server.BaseHTTPRequestHandler):
    """GET /NAME answers 200 once NAME is set, else 404; GET /NAME?set=1 sets it."""

    names: ClassVar[set[str]] = set()

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        name, _, query = self.path.lstrip("/").partition("?")
        if query == "set=1":
            self.names.add(name)
        self.send_response(200 if name in self.names else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
        pass


class _Records(http.server.BaseHTTPRequestHandler):
    """POST /NAME appends the JSON body to NAME's records and answers ``{"count": n}``; GET /NAME answers
    them all as a JSON list (empty for a name never written)."""

    lists: ClassVar[dict[str, list[Any]]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        name = self.path.lstrip("/")
        try:
            value = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            self._answer(400, {"error": "the body is not JSON"})
            return
        with self.lock:
            records = self.lists.setdefault(name, [])
            records.append(value)
            count = len(records)
        self._answer(200, {"count": count})

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        with self.lock:
            records = list(self.lists.get(self.path.lstrip("/"), []))
        self._answer(200, records)

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
        pass


@functools.cache
def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
    """Start one local HTTP server per handler class for the test session; answer its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


class Flag:
    """A yes/no a function and a test share through a local HTTP server (``FLAG_CODE`` in the function):
    ``str(flag)`` is its URL; the test calls ``exists()`` and ``touch()``, like a file's."""

    def __init__(self, name: str = "flag") -> None:
        self.name = f"{name}-{uuid.uuid4().hex}"
        self.url = f"{_serve(_Flags)}/{self.name}"

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Flag({self.name})"

    def exists(self) -> bool:
        return self.name in _Flags.names

    def touch(self) -> None:
        _Flags.names.add(self.name)


class Recorder:
    """An append-only list of JSON values a function and a test share through a local HTTP server
    (``RECORD_CODE`` in the function), where a test once handed a function a file to append lines to:
    ``str(recorder)`` is its URL; the function calls ``_record(url, value)`` (which answers the count so
    far: an attempt counter) and ``_records(url)``; the test reads ``records()``."""

    def __init__(self, name: str = "records") -> None:
        self.name = f"{name}-{uuid.uuid4().hex}"
        self.url = f"{_serve(_Records)}/{self.name}"

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Recorder({self.name})"

    def records(self) -> list[Any]:
        """Every value recorded so far, oldest first (a copy)."""
        with _Records.lock:
            return list(_Records.lists.get(self.name, []))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_zip(files: Mapping[str, str | bytes], symlinks: Mapping[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def write_wheel(
    folder: Path, name: str, version: str, requires: tuple[str, ...] = (), init: str | None = None
) -> Path:
    """Write a tiny, valid pure-Python wheel: ``<name>/__init__.py`` is ``init``, by default just
    ``__version__``."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": f'__version__ = "{version}"\n' if init is None else init,
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: turnout-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return wheel


# What tests/ install into dependency layers: no index, only these wheels (TURNOUT_OFFLINE=1).
WHEELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tinydep", "1.0", ()),
    ("tinydep", "2.0", ()),
    ("tinyapp", "1.0", ("tinydep>=2",)),
    ("requests", "2.31.0", ()),
    ("requests", "2.32.3", ()),
    ("flask", "3.0.0", ()),
    ("attrs", "23.2.0", ()),
)


def make_wheelhouse(folder: Path) -> Path:
    for name, version, requires in WHEELS:
        write_wheel(folder, name, version, requires)
    return folder


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Server:
    """A real `turnout serve` child process with its own data folder."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    database_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
        env.update(
            TURNOUT_DATA_DIR=str(self.data_dir),
            TURNOUT_PORT=str(self.port),
            TURNOUT_LOG_LEVEL="warning",
            **({"TURNOUT_DATABASE_URL": self.database_url} if self.database_url else {}),
            **self.extra_env,
        )
        return env

    def start(self, timeout: float = 30.0) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "turnout", "serve"], env=self.env, stdout=log, stderr=log
            )
        wait_for(self._healthy, timeout=timeout, what=f"server on {self.url}")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited with {self.process.returncode}")
        return httpx.get(self.url + "/v1/health", timeout=1).status_code == 200

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
            **kwargs,
        )


def deploy(
    api: httpx.Client, name: str, files: Mapping[str, str | bytes] | None = None, **config: Any
) -> dict:
    """Upload a bundle and create/update the function's draft through the API."""
    bundle = api.post("/v1/bundles", content=make_zip(files or {"app.py": HELLO}))
    assert bundle.status_code == 201, bundle.text
    body = {"bundle_sha256": bundle.json()["sha256"], **config}
    body.setdefault("handler", "app.handler")
    response = api.put(f"/v1/functions/{name}", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def publish(api: httpx.Client, name: str, **body: Any) -> dict:
    response = api.post(f"/v1/functions/{name}/versions", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def in_background(call: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    """Start ``call`` in a thread; the returned function joins it and gives its response (or raises)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["response"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the joining thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> httpx.Response:
        thread.join(30)
        assert not thread.is_alive(), "the background call did not finish"
        if "error" in box:
            raise box["error"]
        response: httpx.Response = box["response"]
        return response

    return join


def gone(pid: int) -> bool:
    """The process has exited (absent, or a zombie its parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def alive(pid: int) -> bool:
    return not gone(pid)
