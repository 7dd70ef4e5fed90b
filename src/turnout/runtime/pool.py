"""The workers of one version (and one set of alias settings) on this node."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from turnout.runtime.forkserver import ForkServer, ForkServerGone, spawn_worker
from turnout.runtime.worker import Reply, Worker, WorkerDied

log = logging.getLogger(__name__)
INIT_TIMEOUT = 30.0


@dataclass(frozen=True)
class PoolKey:
    function: str
    version: str  # "3" or "$LATEST"
    identity: str  # hash of code, layer, configuration and alias settings

    def __str__(self) -> str:
        return f"{self.function}:{self.version}+{self.identity[:8]}"


class FunctionInitFailed(RuntimeError):
    """The handler could not be imported; ``reply`` carries the code, message and trace."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.header.get("message", "init failed"))
        self.reply = reply


class Pool:
    """Idle workers are reused newest-first; new ones come from this version's template when it has
    one (libraries pre-imported), else from the zygote. The first worker tells which libraries the
    handler loaded, and a template is made from that list in the background."""

    def __init__(self, key: PoolKey, spec: dict[str, Any], zygote: Callable[[], ForkServer | None]) -> None:
        self.key = key
        self.spec = spec
        self._zygote = zygote
        self.idle: list[Worker] = []
        self.busy = 0
        self.starting = 0
        # warm workers this pool keeps, by who wants them ("provisioned", "rollout:7", ...); the most wins
        self.floors: dict[str, int] = {}
        self.template: ForkServer | None = None
        self._template_task: asyncio.Task[None] | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"Pool({self.key}, idle={len(self.idle)}, busy={self.busy})"

    @property
    def min_warm(self) -> int:
        return max(self.floors.values(), default=0)

    @min_warm.setter
    def min_warm(self, count: int) -> None:
        """Provisioned concurrency's floor (other floors are set in ``floors`` by name)."""
        self.set_floor("provisioned", count)

    def set_floor(self, owner: str, count: int) -> None:
        if count > 0:
            self.floors[owner] = count
        else:
            self.floors.pop(owner, None)

    @property
    def size(self) -> int:
        return len(self.idle) + self.busy + self.starting

    def take(self) -> Worker | None:
        """A warm worker if one is idle (now marked busy), else None."""
        while self.idle:
            worker = self.idle.pop()
            if worker.dead:
                worker.kill()
                continue
            worker.cold = False
            self.busy += 1
            return worker
        return None

    async def acquire(self) -> Worker:
        """A warm worker if one is idle, else a new one (cold start)."""
        worker = self.take()
        if worker is not None:
            return worker
        self.busy += 1
        try:
            return await self._start()
        except BaseException:
            self.busy -= 1
            raise

    def release(self, worker: Worker) -> None:
        self.busy -= 1
        if self.closed:
            worker.kill()
        else:
            self.idle.append(worker)

    def discard(self, worker: Worker) -> None:
        """The worker is broken (timed out, crashed): kill it; the next acquire starts a new one."""
        self.busy -= 1
        worker.kill()

    async def warm(self, count: int) -> None:
        """Start workers until ``count`` are idle or running."""
        while self.size < count and not self.closed:
            self.starting += 1
            try:
                worker = await self._start()
            finally:
                self.starting -= 1
            worker.cold = True
            self.idle.append(worker)

    async def _start(self) -> Worker:
        server = self.template if self.template is not None and self.template.alive else self._zygote()
        reaper = None
        try:
            if server is None:
                raise ForkServerGone("the zygote is turned off (TURNOUT_ZYGOTE=0)")
            pid, sock = await server.fork("worker", self.spec)
        except ForkServerGone as gone:
            if server is not None and server is self.template:
                self.template = None
                return await self._start()
            if server is not None:
                log.warning("zygote unavailable (%s): starting a fresh interpreter instead", gone)
            process, sock = await asyncio.to_thread(spawn_worker, self.spec)
            pid, reaper = process.pid, functools.partial(process.wait, 5)
        worker = await Worker.attach(pid, sock, reaper)
        try:
            reply = await worker.wait_ready(INIT_TIMEOUT)
        except (TimeoutError, WorkerDied) as exc:
            worker.kill()
            raise FunctionInitFailed(_init_failure(exc)) from exc
        if reply.header.get("kind") != "ready":
            worker.kill()
            raise FunctionInitFailed(reply)
        if worker.modules and server is not None and self.template is None and self._template_task is None:
            self._template_task = asyncio.create_task(self._make_template(worker.modules))
        return worker

    async def _make_template(self, modules: list[str]) -> None:
        try:
            zygote = self._zygote()
            if zygote is None:
                return
            pid, sock = await zygote.fork("template", self.spec, modules)
            self.template = ForkServer(sock, pid)
            if self.closed:
                self.template.kill()
        except Exception:  # noqa: BLE001 - without a template, workers come from the zygote
            log.exception("could not make a template for %s", self.key)

    def reap(self, now: float, idle_seconds: float) -> None:
        """Stop workers idle for longer than ``idle_seconds``, keeping ``min_warm`` workers in all."""
        for worker in [w for w in self.idle if w.dead]:
            self.idle.remove(worker)
            worker.kill()
        removable = max(0, min(len(self.idle), self.size - self.min_warm))
        expired = sorted(
            (w for w in self.idle if now - w.last_used > idle_seconds), key=lambda w: w.last_used
        )
        for worker in expired[:removable]:
            self.idle.remove(worker)
            worker.kill()
        if self.size == 0 and self.template is not None:
            self.template.kill()
            self.template = None
            self._template_task = None

    def close(self) -> None:
        self.closed = True
        for worker in self.idle:
            worker.kill()
        self.idle.clear()
        if self.template is not None:
            self.template.kill()
        if self._template_task is not None:
            self._template_task.cancel()


def _init_failure(exc: BaseException) -> Reply:
    """The function's error when its worker dies (``os._exit``, a crash) or hangs loading the handler."""
    if isinstance(exc, TimeoutError):
        code, message = "Function.Timeout", f"the handler took longer than {INIT_TIMEOUT:.0f} s to load"
    else:
        code, message = "Function.Crashed", "the worker process died while loading the handler"
    error = {"kind": "error", "code": code, "type": code.split(".")[-1], "message": message, "trace": []}
    return Reply(error)
