"""The node's runtime: the zygote, a pool per version, per-function concurrency (with its queues, in
``admission``), idle reaping and the node-wide cap on idle workers (in ``idle_cap``)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from turnout.build.layer import LayerBuilder
from turnout.domain.config import FunctionConfig
from turnout.domain.names import LATEST
from turnout.domain.secrets import is_sealed
from turnout.errors import SecretKeyInvalid
from turnout.runtime.admission import Admission
from turnout.runtime.code import CodeCache
from turnout.runtime.forkserver import ForkServer, start_zygote
from turnout.runtime.idle_cap import evict_idle
from turnout.runtime.isolation import Isolation, SandboxStatus
from turnout.runtime.layers import NodeLayers
from turnout.runtime.pool import FunctionInitFailed, Pool, PoolKey
from turnout.runtime.worker import WorkerDied

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Exactly what runs: one version's code, layer and configuration, plus the alias's settings."""

    function: str
    version: int | None  # None: the draft ($LATEST)
    config: FunctionConfig
    bundle_sha256: str
    layer_hash: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    pinned: tuple[str, ...] = ()  # a version's resolved set: rebuilds its layer on a node that lacks it
    requirements: tuple[str, ...] = ()  # a draft's unresolved set: resolved when its pool is made

    @property
    def label(self) -> str:
        return LATEST if self.version is None else str(self.version)

    @cached_property
    def key(self) -> PoolKey:
        """Workers are shared by targets with the same code, layer, configuration and settings."""
        identity = json.dumps(
            [self.bundle_sha256, self.layer_hash, self.config.to_json(), dict(self.settings)], sort_keys=True
        )
        return PoolKey(self.function, self.label, hashlib.sha256(identity.encode()).hexdigest()[:16])


@dataclass
class Outcome:
    """What one invocation gave: the result payload, or an error with a stable code."""

    version: str
    payload: bytes = b""
    error: dict[str, Any] | None = None
    cold: bool = False
    init_ms: float = 0.0
    duration_ms: float = 0.0
    logs: str = ""
    queued_ms: float = 0.0  # how long it waited in its version's queue for a concurrency slot

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else str(self.error.get("code"))


@dataclass(frozen=True)
class RuntimeSettings:
    data_dir: Path
    region: str = "us-east-1"
    account_id: str = "000000000000"
    concurrency: int = 16
    idle_seconds: float = 300.0
    queue_length: int = 1000  # requests that may wait for a slot, per version
    queue_wait_s: float = 10.0  # how long one may wait before it is throttled
    idle_cap: int = 0  # most idle warm workers on the node (0: no cap)
    reap_interval: float = 1.0
    zygote: bool = True  # False: every worker is a fresh interpreter (slower; for debugging and baselines)


class Supervisor:
    def __init__(
        self,
        settings: RuntimeSettings,
        code: CodeCache,
        layers: LayerBuilder | None = None,
        isolation: Isolation | None = None,
    ) -> None:
        self.settings = settings
        self.code = code
        self.layers = layers
        self._node_layers = NodeLayers(layers) if layers is not None else None
        self.isolation = isolation or Isolation(SandboxStatus("off", False), settings.data_dir, 1, 1, 1)
        self.pools: dict[PoolKey, Pool] = {}
        self.admission = Admission(self.limit, settings.queue_length, settings.queue_wait_s)
        self.in_flight = self.admission.in_flight  # invocations running now, by function
        # a function's own limit (reserved concurrency) or None: the composition root wires it to the
        # routing table, which every invocation has just read (so it is never stale by more than a change)
        self.reserved: Callable[[str], int | None] = lambda function: None
        # opens sealed secrets into plain values (the composition root wires the keyring): the one place
        # a worker's environment is built is the one place secrets are decrypted
        self.unseal: Callable[[Mapping[str, str]], dict[str, str]] = _refuse_sealed
        self._zygote: ForkServer | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._warming: dict[PoolKey, asyncio.Task[None]] = {}

    def __repr__(self) -> str:
        return f"Supervisor(pools={len(self.pools)})"

    async def start(self) -> None:
        if self.settings.zygote:
            self._zygote = start_zygote()
        self._reaper = asyncio.create_task(self._reap_forever())

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()
        if self._zygote is not None:
            self._zygote.close()

    @property
    def zygote_alive(self) -> bool:
        """The zygote runs (it is restarted on the next fork if not)."""
        z = self._zygote
        return z is not None and z.alive and z.process.poll() is None  # type: ignore[union-attr]

    def zygote(self) -> ForkServer | None:
        """The zygote, restarted if it died (its workers live on: they are attached to us by socket)."""
        if not self.settings.zygote:
            return None
        if self._zygote is None or not self._zygote.alive or self._zygote.process.poll() is not None:  # type: ignore[union-attr]
            if self._zygote is not None:
                log.warning("zygote %d is gone; starting a new one", self._zygote.pid)
                self._zygote.close()
            self._zygote = start_zygote()
        return self._zygote

    async def pool(self, target: Target) -> Pool:
        """The target's pool; making one unpacks its code and builds its layer if needed (off the loop)."""
        found = self.pools.get(target.key)
        if found is None:
            spec = await asyncio.to_thread(self._spec, target)
            found = self.pools.get(target.key)
            if found is None:
                found = self.pools[target.key] = Pool(target.key, spec, self.zygote)
        return found

    def forget(self, function: str) -> None:
        """The function was deleted: stop its workers now (running ones finish first) and its count."""
        for key in [k for k in self.pools if k.function == function]:
            self.pools.pop(key).close()
        self.admission.forget(function)
        if self.in_flight.get(function) == 0:
            del self.in_flight[function]

    def layers_in_use(self) -> set[str]:
        """The layer folders this node's worker pools run with (a draft's included)."""
        found = set()
        for pool in self.pools.values():
            layer_dir = pool.spec.get("layer_dir")
            if layer_dir:
                found.add(Path(layer_dir).name)
        return found

    def limit(self, function: str) -> int:
        """How many invocations of the function may run at once on this node."""
        reserved = self.reserved(function)
        return self.settings.concurrency if reserved is None else reserved

    async def invoke(self, target: Target, payload: bytes, request_id: str, invoked_arn: str) -> Outcome:
        """Run one invocation on a worker of the target's pool (a warm one when one is idle), once the
        function has a free concurrency slot (waiting in the version's queue for one if needed)."""
        function = target.function
        waited = await self.admission.enter(function, target.label)
        try:
            pool = self.pools.get(target.key) or await self.pool(target)
            worker = pool.take()
            if worker is None:
                try:
                    worker = await pool.acquire()
                except FunctionInitFailed as failure:
                    header = function_error(failure.reply.header)
                    logs = str(header.get("logs", ""))
                    return Outcome(target.label, error=header, logs=logs, queued_ms=waited * 1000.0)
            timeout = target.config.timeout
            try:
                reply = await worker.invoke(request_id, time.time() + timeout, invoked_arn, payload, timeout)
            except TimeoutError:
                pool.discard(worker)
                message = f"the function ran past its {timeout} s timeout"
                error = _failure("Function.Timeout", message)
                return Outcome(target.label, error=error, queued_ms=waited * 1000.0)
            except WorkerDied:
                pool.discard(worker)
                message = "the worker process died during the invocation"
                error = _failure("Function.Crashed", message)
                return Outcome(target.label, error=error, queued_ms=waited * 1000.0)
            except asyncio.CancelledError:  # its answer would reach the next invocation: never reuse it
                pool.discard(worker)
                raise
            pool.release(worker)
        finally:
            self.admission.leave(function)
        header = reply.header
        first = worker.invocations == 1
        cold = first and worker.cold
        logs = str(header.get("logs", ""))
        outcome = Outcome(
            target.label,
            cold=cold,
            init_ms=worker.init_ms if cold else 0.0,
            duration_ms=float(header.get("duration_ms", 0.0)),
            logs=worker.init_logs + logs if first and worker.init_logs else logs,
            queued_ms=waited * 1000.0,
        )
        if header.get("kind") == "result":
            outcome.payload = reply.payload
        else:
            outcome.error = function_error(header)
        return outcome

    async def warm(self, target: Target, count: int = 1) -> None:
        await (await self.pool(target)).warm(count)

    async def check_import(self, target: Target) -> dict[str, Any] | None:
        """Import the handler in a throwaway worker: None if it loads, else the error header."""
        pool = Pool(target.key, await asyncio.to_thread(self._spec, target), self.zygote)
        try:
            worker = await pool.acquire()
        except FunctionInitFailed as failure:
            return failure.reply.header
        finally:
            pool.closed = True
        pool.discard(worker)
        return None

    def _spec(self, target: Target) -> dict[str, Any]:
        s, config = self.settings, target.config
        code_dir = self.code.path(target.bundle_sha256)
        layer_dir = self._layer_dir(target)
        stream = f"{time.strftime('%Y/%m/%d')}/[{target.label}]{target.key.identity[:8]}"
        sandbox = self.isolation.plan(target.function, code_dir, layer_dir)
        environment = {
            **({"TMPDIR": "/tmp", "HOME": "/tmp"} if sandbox else {}),  # noqa: S108 - the worker's own tmpfs
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
            "_HANDLER": config.handler,
            "AWS_REGION": s.region,
            "AWS_DEFAULT_REGION": s.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_LAMBDA_FUNCTION_NAME": target.function,
            "AWS_LAMBDA_FUNCTION_VERSION": target.label,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{target.function}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            **self.unseal(config.environment),
            **self.unseal(target.settings),
        }
        return {
            "code_dir": str(code_dir),
            "layer_dir": str(layer_dir) if layer_dir else None,
            "handler": config.handler,
            "environment": environment,
            "memory_mb": config.memory,
            "function_name": target.function,
            "function_version": target.label,
            "log_group_name": f"/aws/lambda/{target.function}",
            "log_stream_name": stream,
            "sandbox": sandbox,
        }

    def _layer_dir(self, target: Target) -> Path | None:
        if target.layer_hash:
            path = self.settings.data_dir / "layers" / target.layer_hash
            if not path.is_dir() and self._node_layers is not None and target.pinned:
                built = self._node_layers.ensure(
                    target.pinned, f"version {target.label} of {target.function}"
                )
                return None if built is None else built.path
            return path
        if target.requirements and self.layers is not None:
            built = self.layers.ensure(self.layers.resolve(target.requirements))
            return None if built is None else built.path
        return None

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reap_interval)
            now = time.monotonic()
            for key, pool in list(self.pools.items()):
                pool.reap(now, self.settings.idle_seconds)
                if pool.size < pool.min_warm and key not in self._warming:
                    self._warming[key] = asyncio.create_task(self._rewarm(key, pool))
                if pool.size == 0 and pool.min_warm == 0 and pool.template is None:
                    del self.pools[key]
            if self.settings.idle_cap > 0:
                evicted = evict_idle(self.pools.values(), self.settings.idle_cap)
                if evicted:
                    log.info("stopped %d idle workers (node cap %d)", evicted, self.settings.idle_cap)

    async def _rewarm(self, key: PoolKey, pool: Pool) -> None:
        """Bring a provisioned pool back to its minimum (a worker crashed, timed out or was killed)."""
        try:
            await pool.warm(pool.min_warm)
        except Exception:  # noqa: BLE001 - tried again at the next reap
            log.exception("could not re-warm %s", key)
        finally:
            self._warming.pop(key, None)

    def describe(self, function: str) -> list[dict[str, Any]]:
        """The pools of one function on this node: version, workers idle and busy, minimum, pids, and the
        version's queue (requests waiting now, p50/p99 of its recent waits)."""
        rows = []
        for key, pool in sorted(self.pools.items(), key=lambda item: str(item[0])):
            if key.function != function:
                continue
            queue = self.admission.stats(function, key.version)
            rows.append(
                {
                    "version": key.version,
                    "pool": key.identity,
                    "idle": len(pool.idle),
                    "busy": pool.busy,
                    "starting": pool.starting,
                    "min_warm": pool.min_warm,
                    "template": pool.template is not None and pool.template.alive,
                    "pids": sorted(w.pid for w in pool.idle),
                    "queued": queue.depth,
                    "queue_wait_p50_ms": queue.percentile_ms(0.50),
                    "queue_wait_p99_ms": queue.percentile_ms(0.99),
                    "queue_throttled": queue.expired,
                }
            )
        return rows

    def idle_workers(self) -> int:
        """Idle warm workers on this node, over every pool."""
        return sum(len(pool.idle) for pool in self.pools.values())


_CODE = re.compile(r"Function\.[A-Za-z]{1,64}")


def function_error(header: dict[str, Any]) -> dict[str, Any]:
    """A worker's error header with a code that is safe to put in a response header: the worker runs
    the function's code, which can write to its socket, so anything but ``Function.<Name>`` becomes
    ``Function.Unhandled`` (tests/unit/test_function_error.py)."""
    code = header.get("code")
    if isinstance(code, str) and _CODE.fullmatch(code):
        return header
    return {**header, "code": "Function.Unhandled"}


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"kind": "error", "code": code, "type": code.split(".")[-1], "message": message, "trace": []}


def _refuse_sealed(environment: Mapping[str, str]) -> dict[str, str]:
    """Without a keyring, a sealed value is refused rather than handed to a function as garbage."""
    sealed = [key for key, value in environment.items() if is_sealed(value)]
    if sealed:
        raise SecretKeyInvalid(f"no secret key to open {', '.join(sealed)}")
    return dict(environment)
