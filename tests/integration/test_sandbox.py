"""Sandboxed workers (issue 12): a hostile function reaches nothing but its own version; a legitimate one
with a dependency layer, scratch files, a subprocess and an outbound request works unchanged."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.runtime_support import invoke, ok, probe, release
from tests.support import Flag, Server, deploy, unique, wait_for, write_wheel

pytestmark = pytest.mark.integration
REFUSED = {"EACCES", "EPERM", "ENOENT", "EROFS"}

# Each attempt answers "ok" (it worked: a hole) or the errno name the kernel answered.
HOSTILE = """\
import ctypes
import errno
import os
import signal


def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def read(path):
    with open(path, "rb") as handle:
        handle.read(1)


def write(path):
    with open(path, "ab") as handle:
        handle.write(b"owned")


def ptrace(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def handler(event, context):
    tried = {}
    for path in event["read"]:
        tried["read " + path] = attempt(lambda: read(path))
    for path in event["list"]:
        tried["list " + path] = attempt(lambda: os.listdir(path))
        if tried["list " + path] == "ok":
            tried["list " + path] = sorted(os.listdir(path))
    for path in event["write"]:
        tried["write " + path] = attempt(lambda: write(path))
    for pid in event["pids"]:
        tried["kill %d" % pid] = attempt(lambda: os.kill(pid, signal.SIGKILL))
        tried["ptrace %d" % pid] = attempt(lambda: ptrace(pid))
    return {"tried": tried, "uid": os.getuid(), "env": sorted(os.environ)}
"""

LEGIT = """\
import os
import subprocess
import sys
import tempfile
import urllib.request

import tinydep


def _mount_points():
    # the folders in /tmp that only hold where the data folder and the server's virtualenv are bound
    # (the test's data folder lives under /tmp, and so may the repository a CI run clones)
    tops = set()
    for path in (os.path.abspath(sys.executable), os.getcwd()):
        parts = path.split(os.sep)
        if len(parts) > 2 and parts[1] == "tmp":
            tops.add(parts[2])
    return tops


def handler(event, context):
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("scratch")
    with open(handle.name) as handle_again:
        scratch = handle_again.read()
    with open(os.path.join(tempfile.gettempdir(), "own.txt"), "w") as own:
        own.write("x" * 10)
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    shell = subprocess.run(["/bin/sh", "-c", "echo hi from sh"], capture_output=True, text=True)
    with urllib.request.urlopen(event["url"] + "?set=1", timeout=10) as response:
        status = response.status
    too_big = None
    if event.get("fill_mb"):
        try:
            with open("/tmp/big", "wb") as big:
                for _ in range(event["fill_mb"]):
                    big.write(b"\\0" * (1 << 20))
        except OSError as exc:
            too_big = exc.errno
        finally:
            os.unlink("/tmp/big")
    return {
        "tinydep": tinydep.__version__,
        "scratch": scratch,
        "tmpdir": tempfile.gettempdir(),
        "tmp": sorted(n for n in os.listdir(tempfile.gettempdir()) if n not in _mount_points()),
        "child": child.stdout.strip(),
        "shell": shell.stdout.strip(),
        "status": status,
        "too_big": too_big,
        "pid": os.getpid(),
    }
"""


@pytest.fixture(scope="module")
def boxed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    wheels = tmp_path_factory.mktemp("wheels")
    write_wheel(wheels, "tinydep", "2.0")
    running = Server(
        tmp_path_factory.mktemp("sandbox") / "data",
        extra_env={
            "TURNOUT_OFFLINE": "1",
            "TURNOUT_WHEEL_DIR": str(wheels),
            "TURNOUT_SANDBOX": "require",
            "TURNOUT_SANDBOX_TMP_MB": "8",
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture
def api(boxed: Server) -> Iterator[httpx.Client]:
    with boxed.client() as client:
        yield client


def report(api: httpx.Client, name: str) -> dict[str, Any]:
    return ok(invoke(api, name, "1"))


def test_health_says_workers_are_sandboxed(boxed: Server) -> None:
    sandbox = httpx.get(boxed.url + "/v1/health").json()["sandbox"]
    assert sandbox["mode"] == "require" and sandbox["active"] is True and sandbox["landlock_abi"] >= 1


def test_a_hostile_function_is_refused_everything_outside_its_own_version(
    boxed: Server, api: httpx.Client
) -> None:
    data = boxed.data_dir
    victim = unique("victim")
    release(api, victim, {**probe("victim"), "requirements.txt": "tinydep==2.0\n"})
    seen = report(api, victim)
    victim_code = seen["env"]["LAMBDA_TASK_ROOT"]
    victim_layer = next(p for p in seen["path"] if p.startswith(str(data / "layers")))
    hostile = unique("hostile")
    release(api, hostile, {"app.py": HOSTILE})
    release(api, hostile, {"app.py": HOSTILE + "\n# version 2\n"})
    own_code = str(data / "code" / api.get(f"/v1/functions/{hostile}/versions/1").json()["code_sha256"])
    other_version = str(data / "code" / api.get(f"/v1/functions/{hostile}/versions/2").json()["code_sha256"])
    server_pid = boxed.process.pid  # type: ignore[union-attr]
    event = {
        "read": [
            str(data / "admin-token"),
            str(data / "turnout.db"),
            f"{victim_code}/app.py",
            f"/proc/{server_pid}/environ",
            f"/proc/{server_pid}/root{data}/admin-token",
        ],
        "list": [victim_code, victim_layer, str(data / "code"), str(data), f"/proc/{server_pid}/fd"],
        "write": [
            f"{own_code}/app.py",
            f"{own_code}/planted.py",
            f"{other_version}/app.py",
            f"{victim_code}/app.py",
            f"{victim_layer}/tinydep/__init__.py",
            str(data / "blobs" / "planted"),
            str(data / "planted"),
            "/etc/planted",
        ],
        "pids": [seen["pid"], server_pid],
    }
    before = {p: Path(p).read_bytes() for p in event["write"] if Path(p).exists()}
    result = ok(invoke(api, hostile, "1", event))
    tried = dict(result["tried"])
    # with the data folder under /tmp (as here), the worker's own /tmp holds the skeleton its own code and
    # layer are mounted on: listing it shows just those, nothing else of the data folder
    if str(data).startswith("/tmp/"):
        assert tried.pop(f"list {data}") == ["code"]
        assert tried.pop(f"list {data / 'code'}") == [Path(own_code).name]
    holes = {what: answer for what, answer in tried.items() if answer not in REFUSED}
    assert not holes, holes
    assert len(result["tried"]) == len(event["read"]) + len(event["list"]) + len(event["write"]) + 4
    assert result["uid"] not in (0, os.getuid())
    assert not [name for name in result["env"] if name.startswith("TURNOUT_")]
    assert {p: Path(p).read_bytes() for p in event["write"] if Path(p).exists()} == before
    assert report(api, victim)["pid"] == seen["pid"]  # neither killed nor stopped
    assert httpx.get(boxed.url + "/v1/health").status_code == 200


def test_functions_run_as_their_own_uids(api: httpx.Client) -> None:
    first, second = unique("uid"), unique("uid")
    release(api, first, {"app.py": HOSTILE})
    release(api, second, {"app.py": HOSTILE})
    empty = {"read": [], "list": [], "write": [], "pids": []}
    uids = {ok(invoke(api, name, "1", empty))["uid"] for name in (first, second)}
    assert len(uids) == 2 and 0 not in uids


def test_a_legitimate_function_with_a_layer_works_unchanged(api: httpx.Client) -> None:
    name, flag = unique("legit"), Flag("outbound")
    release(api, name, {"app.py": LEGIT, "requirements.txt": "tinydep==2.0\n"})
    body = ok(invoke(api, name, "1", {"url": str(flag)}))
    assert (body["tinydep"], body["scratch"], body["shell"]) == ("2.0", "scratch", "hi from sh")
    assert body["child"].isdigit() and body["status"] == 200 and flag.exists()
    assert body["tmpdir"] == "/tmp" and len(body["tmp"]) == 2 and "own.txt" in body["tmp"]


def test_scratch_space_is_limited_by_the_setting_and_private_to_a_worker(
    boxed: Server, api: httpx.Client
) -> None:
    name = unique("scratch")
    release(api, name, {"app.py": LEGIT, "requirements.txt": "tinydep==2.0\n"})
    body = ok(invoke(api, name, "1", {"url": str(Flag()), "fill_mb": 9}))  # TURNOUT_SANDBOX_TMP_MB=8
    assert body["too_big"] == 28  # ENOSPC
    assert len(body["tmp"]) == 2  # own.txt and this invocation's temporary file
    # the worker exits: the next one's scratch folder starts empty (it holds only its own two files)
    os.kill(body["pid"], 9)
    fresh = wait_for(
        lambda: (r := ok(invoke(api, name, "1", {"url": str(Flag())})))["pid"] != body["pid"] and r,
        timeout=30,
        what="a new worker",
    )
    assert len(fresh["tmp"]) == 2 and "own.txt" in fresh["tmp"], fresh


def test_the_import_check_at_publish_runs_in_the_sandbox(boxed: Server, api: httpx.Client) -> None:
    name = unique("peek")
    token = str(boxed.data_dir / "admin-token")
    code = f"TOKEN = open({token!r}).read()\n\n\ndef handler(event, context):\n    return 1\n"
    deploy(api, name, {"app.py": code})
    response = api.post(f"/v1/functions/{name}/versions", json={})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "Function.ImportError"
    assert "No such file" in response.text or "Permission denied" in response.text


def test_a_bad_sandbox_setting_refuses_to_start(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_env={"TURNOUT_SANDBOX": "sometimes"})
    with pytest.raises(TimeoutError, match="server exited with 1"):
        server.start(timeout=30)
    assert "TURNOUT_SANDBOX='sometimes' is not one of require, auto, off" in server.log_path.read_text()  # type: ignore[union-attr]


def test_with_the_sandbox_off_workers_run_as_the_server(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_env={"TURNOUT_SANDBOX": "off"}).start()
    try:
        assert httpx.get(server.url + "/v1/health").json()["sandbox"]["active"] is False
        with server.client() as client:
            name = unique("open")
            release(client, name, {"app.py": HOSTILE})
            empty = {"read": [str(server.data_dir / "admin-token")], "list": [], "write": [], "pids": []}
            result = ok(invoke(client, name, "1", empty))
            assert result["uid"] == os.getuid() and set(result["tried"].values()) == {"ok"}
    finally:
        server.stop()
