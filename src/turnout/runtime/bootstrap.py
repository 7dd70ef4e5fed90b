"""The worker runtime: the only Turnout code that runs inside user processes.

Standard library only, and never imported by user code: it is run as a script with ``python -I -S``
so a function's ``sys.path`` holds the standard library, its own code and its own layer — nothing
of the platform's (a function may depend on any version of any package, even ones Turnout uses).

Three roles, one file:

* ``zygote`` — a single-threaded fork server. It has already loaded this runtime; each ``fork``
  request becomes a worker in a millisecond or two instead of a fresh interpreter.
* ``template`` — a fork server for one version: forked from the zygote, it has put the version's code
  and layer on its path and pre-imported the libraries the handler needs (never the user's own modules,
  so each worker still runs the function's init code itself), so scaling out skips those imports.
* ``worker`` — imports the handler, then serves one invocation at a time over its socket.
  ``python -I -S bootstrap.py worker`` is the fresh-interpreter fallback.

When the spec carries a ``sandbox`` plan, a worker (or template) confines itself with ``sandbox.py``
(loaded from this folder as ``_turnout_sandbox``) right after the fork, before any of the function's
code or libraries is imported; a template's workers inherit its confinement and get their own
``TMPDIR`` folder inside its ``/tmp``, removed when the template reaps them.

Frames on every socket: ``!II`` (header length, payload length), a JSON header, raw payload bytes.
Control messages to fork servers are single SOCK_SEQPACKET packets carrying the worker's socket as
SCM_RIGHTS ancillary data.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import io
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time
import traceback
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

Json = dict[str, Any]
FRAME = struct.Struct("!II")
LOG_LIMIT = 256 * 1024
_HERE = os.path.dirname(os.path.abspath(__file__))
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


# ---------------------------------------------------------------------------------------------- frames


def encode(header: Json, payload: bytes = b"") -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    return FRAME.pack(len(raw), len(payload)) + raw + payload


def invoke_frame(request_id: str, deadline_ms: float, arn: str, payload: bytes) -> bytes:
    """``encode({"request_id", "deadline_ms", "invoked_function_arn"}, payload)``, without the encoder's
    generic walk: this frame goes out for every invocation."""
    raw = (
        f'{{"request_id":{_quote(request_id)},"deadline_ms":{deadline_ms:.3f},'
        f'"invoked_function_arn":{_quote(arn)}}}'
    ).encode()
    return FRAME.pack(len(raw), len(payload)) + raw + payload


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket) -> tuple[Json, bytes] | None:
    head = _read_exact(sock, FRAME.size)
    if head is None:
        return None
    header_len, payload_len = FRAME.unpack(head)
    body = _read_exact(sock, header_len + payload_len)
    if body is None:
        return None
    return json.loads(body[:header_len]), body[header_len:]


# ---------------------------------------------------------------------------------------------- logs


class _Capture(io.TextIOBase):
    """Collects what the function prints (and logs) during one invocation, up to LOG_LIMIT."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < LOG_LIMIT:
            self.parts.append(text[: LOG_LIMIT - self.size])
            self.size += len(text)
        return len(text)

    def drain(self) -> str:
        text = "".join(self.parts)
        if self.size > LOG_LIMIT:
            text += f"\n[turnout: {self.size - LOG_LIMIT} more characters of output were dropped]\n"
        self.parts, self.size = [], 0
        return text


def _install_capture() -> _Capture:
    import logging

    capture = _Capture()
    sys.stdout = sys.stderr = capture
    handler = logging.StreamHandler(capture)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(asctime)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return capture


# ---------------------------------------------------------------------------------------------- setup


def _apply_paths(spec: Json) -> None:
    paths = [spec["code_dir"]] + ([spec["layer_dir"]] if spec.get("layer_dir") else [])
    sys.path[:0] = [p for p in paths if p not in sys.path]
    os.chdir(spec["code_dir"])


def _apply_environment(spec: Json) -> None:
    os.environ.clear()
    os.environ.update(spec["environment"])
    if hasattr(time, "tzset"):
        time.tzset()


def _apply_memory_limit(spec: Json) -> None:
    """RLIMIT_AS = what the process already maps + the function's memory setting."""
    try:
        with open("/proc/self/statm") as handle:
            mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        mapped = 0
    limit = mapped + int(spec["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _error(code: str, exc: BaseException, user_only: bool = True) -> Json:
    frames = traceback.extract_tb(exc.__traceback__)
    if user_only:
        frames = traceback.StackSummary.from_list([f for f in frames if not _is_runtime_frame(f.filename)])
    return {
        "kind": "error",
        "code": code,
        "type": type(exc).__name__,
        "message": str(exc),
        "trace": traceback.format_list(frames),
    }


def _is_runtime_frame(filename: str) -> bool:
    return filename.startswith((_HERE, _ASYNCIO_DIR)) or filename.startswith("<frozen importlib")


def _load_handler(spec: Json) -> tuple[object | None, Json | None]:
    module_name, _, func_name = spec["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except MemoryError as exc:
        return None, _error("Function.OutOfMemory", exc)
    except BaseException as exc:  # noqa: BLE001 - any failure at import is the function's
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name:
            return None, _error("Function.HandlerNotFound", exc)
        return None, _error("Function.ImportError", exc)
    handler = getattr(module, func_name, None)
    if not callable(handler):
        missing = AttributeError(f"module {module_name!r} has no function {func_name!r}")
        return None, _error("Function.HandlerNotFound", missing)
    return handler, None


def _library_modules(code_dir: str, before: set[str]) -> list[str]:
    """Modules the handler's import loaded that are not the function's own code (for templates)."""
    found = []
    for name, module in list(sys.modules.items()):
        if name in before or module is None or "." in name:
            continue
        path = getattr(module, "__file__", None) or ""
        if path and not path.startswith(code_dir):
            found.append(name)
    return sorted(found)


# ---------------------------------------------------------------------------------------------- worker


class _Context:
    """Lambda's context object."""

    def __init__(self, spec: Json, header: Json) -> None:
        self.function_name = spec["function_name"]
        self.function_version = spec["function_version"]
        self.invoked_function_arn = header["invoked_function_arn"]
        self.memory_limit_in_mb = int(spec["memory_mb"])
        self.aws_request_id = header["request_id"]
        self.log_group_name = spec["log_group_name"]
        self.log_stream_name = spec["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = header["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext({self.function_name}:{self.function_version}, {self.aws_request_id})"


def _invoke(
    handler: Any, spec: Json, header: Json, payload: bytes, loop: asyncio.AbstractEventLoop
) -> tuple[Json, bytes]:
    try:
        event = json.loads(payload) if payload else {}
    except ValueError as exc:
        return _error("Function.InvalidEvent", exc), b""
    context = _Context(spec, header)
    try:
        result = handler(event, context)
        if inspect.isawaitable(result):
            result = loop.run_until_complete(result)
    except MemoryError as exc:
        return _error("Function.OutOfMemory", exc), b""
    except BaseException as exc:  # noqa: BLE001 - the function's failure, reported, not raised
        if isinstance(exc, SystemExit | KeyboardInterrupt):
            raise
        return _error("Function.Unhandled", exc), b""
    try:
        body = json.dumps(result, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        return _error("Function.MarshalError", exc), b""
    return {"kind": "result"}, body


def serve_worker(sock: socket.socket, spec: Json, preloaded: bool = False) -> None:
    """Import the handler, say ready (or why not), then serve invocations until the socket closes."""
    started = time.perf_counter()
    capture = _install_capture()
    if not preloaded:
        try:
            _confine(spec, sock)
        except OSError as exc:
            sock.sendall(encode(_error("Function.SandboxError", exc, user_only=False)))
            os._exit(0)
        _apply_paths(spec)
        _apply_environment(spec)
    elif spec.get("sandbox"):
        _own_scratch()
    _apply_memory_limit(spec)
    before = set(sys.modules)
    handler, failure = _load_handler(spec)
    init_ms = (time.perf_counter() - started) * 1000
    if failure is not None:
        failure["logs"] = capture.drain()
        sock.sendall(encode(failure))
        os._exit(0)
    ready = {
        "kind": "ready",
        "pid": os.getpid(),
        "init_ms": round(init_ms, 3),
        "logs": capture.drain(),
        "modules": [] if preloaded else _library_modules(spec["code_dir"], before),
    }
    sock.sendall(encode(ready))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    while True:
        frame = read_frame(sock)
        if frame is None:
            os._exit(0)
        header, payload = frame
        started = time.perf_counter()
        reply, body = _invoke(handler, spec, header, payload, loop)
        reply["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        reply["logs"] = capture.drain()
        sock.sendall(encode(reply, body))


# ---------------------------------------------------------------------------------------------- fork servers


def serve_forks(control: socket.socket, preloaded: bool, scratch: bool = False) -> None:
    """Answer fork requests (one SEQPACKET each, the worker's socket attached) until the control closes.
    ``scratch``: a sandboxed template, whose workers' ``/tmp/worker-PID`` folders go when they are reaped."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        for pid in _reap():
            if scratch:
                shutil.rmtree(_scratch_of(pid), ignore_errors=True)
        ready, _, _ = select.select([control], [], [], 1.0)
        if not ready:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 1)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)
        request = json.loads(message)
        child_sock = socket.socket(fileno=fds[0]) if fds else None
        plan = request["spec"].get("sandbox")
        if plan and not preloaded and "base" in plan:  # the zygote: the workers' shared part, once
            _sandbox_module().enter_base(plan["base"])
        pid = os.fork()
        if pid == 0:
            control.close()
            _become(request, child_sock, preloaded)
            os._exit(0)
        if child_sock is not None:
            child_sock.close()
        control.send(json.dumps({"pid": pid}).encode())


def _become(request: Json, sock: socket.socket | None, preloaded: bool) -> None:
    """In a freshly forked child: turn into a worker or a version template."""
    spec = request["spec"]
    try:
        if request["op"] == "template":
            assert sock is not None
            _confine(spec, sock)
            _apply_paths(spec)
            _apply_environment(spec)
            for name in request.get("preload", []):
                try:
                    importlib.import_module(name)
                except BaseException:  # noqa: BLE001, S112 - a library that won't preload is imported later
                    continue
            assert sock is not None
            gc.freeze()  # what the template loaded stays shared with its workers (no copy-on-write by gc)
            serve_forks(sock, preloaded=True, scratch=bool(spec.get("sandbox")))
        else:
            assert sock is not None
            serve_worker(sock, spec, preloaded=preloaded)
    except BaseException:  # noqa: BLE001 - never return into the fork server's loop
        traceback.print_exc(file=sys.__stderr__)
        os._exit(70)


def _reap() -> list[int]:
    reaped: list[int] = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append(pid)


# ---------------------------------------------------------------------------------------------- sandbox


def _sandbox_module() -> Any:
    """``sandbox.py`` next to this file, loaded once (the zygote does it before forking)."""
    module = sys.modules.get("_turnout_sandbox")
    if module is None:
        from importlib.util import module_from_spec, spec_from_file_location

        found = spec_from_file_location("_turnout_sandbox", os.path.join(_HERE, "sandbox.py"))
        assert found is not None and found.loader is not None
        module = module_from_spec(found)
        sys.modules["_turnout_sandbox"] = module
        found.loader.exec_module(module)
    return module


def _confine(spec: Json, sock: socket.socket) -> None:
    """Apply the spec's sandbox plan, if it has one (raises OSError when the kernel refuses a step)."""
    plan = spec.get("sandbox")
    if plan:
        _sandbox_module().apply(plan, sock.fileno())


def _scratch_of(pid: int) -> str:
    return f"/tmp/worker-{pid}"  # noqa: S108 - inside the template's own tmpfs


def _own_scratch() -> None:
    """A template's worker: its own folder in the template's /tmp, as TMPDIR."""
    folder = _scratch_of(os.getpid())
    os.mkdir(folder, 0o700)
    os.environ["TMPDIR"] = folder
    import tempfile

    tempfile.tempdir = None


# ---------------------------------------------------------------------------------------------- entry


def _become_subreaper() -> None:
    """Adopt orphaned workers (a template that dies leaves its workers to us), so they are reaped."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _detach_from_platform() -> None:
    """Drop this script's folder from sys.path: nothing of the platform is importable by functions."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


def main(argv: list[str]) -> None:
    _detach_from_platform()
    role, fd = argv[1], int(argv[2])
    sock = socket.socket(fileno=fd)
    if role == "zygote":
        _become_subreaper()
        _sandbox_module().prepare()
        serve_forks(sock, preloaded=False)
    elif role == "worker":
        frame = read_frame(sock)
        if frame is None:
            os._exit(0)
        serve_worker(sock, frame[0]["spec"])
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv)
