"""The rollout controller: ticks every running rollout, feeds ``decide()`` what it observed, applies it.

Each tick, per rollout this node holds the lease of: read the baseline's and the candidate's windows over
the same span (since the current step began, at most ``window_s``), the hooks' and the custom gate's
latest results, and let the pure ``decide()`` answer inside the store transaction that also moves the
alias. Before a decision that gives the candidate more traffic is committed, the same decision is
previewed and the candidate's pool is warmed for its coming share (``workers_for`` the load: observed
rate x p90 duration x share), so a step does not land on cold starts; the baseline's pool keeps at least
the workers it had while the rollout runs, so a rollback is warm too. Hooks and the custom gate run as
background tasks; a decision only sees their results once they have reported.

A node ticks only the rollouts whose lease it holds (renewed every tick; another node takes over a
rollout once its lease has run out), so with several nodes one controller acts on each rollout, judging
the windows of every node (``turnout.cluster.windows.MergedWindows``); on one node, its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from turnout.clock import Clock
from turnout.domain import rollout as machine
from turnout.domain.gates import Check, Metrics, Verdict
from turnout.domain.ids import new_request_id
from turnout.domain.names import split_qualified
from turnout.domain.plan import Hook
from turnout.domain.rollout import Action, Decision, State
from turnout.errors import TurnoutError
from turnout.gateway.entry import Door, InvocationEntry
from turnout.gateway.invoke import Invocation
from turnout.gateway.shadow import Mirror, Mirroring
from turnout.gateway.window import SHADOW, WindowView
from turnout.runtime.pool import Pool
from turnout.runtime.supervisor import Outcome
from turnout.services.releases import ReleaseService
from turnout.services.rollouts import RolloutService
from turnout.services.tokens import Principal
from turnout.store.rollouts import RolloutRecord

log = logging.getLogger(__name__)
CONTROLLER = Principal("rollout-controller", frozenset({"invoke"}))
_JUDGED = {State.BAKING, State.POST_HOOK, State.PAUSED}  # states whose gates include the custom one


@dataclass(frozen=True)
class ControllerSettings:
    tick_s: float = 1.0
    lease_s: float = 15.0
    node: str = "node"


class RolloutController:
    def __init__(
        self,
        service: RolloutService,
        entry: InvocationEntry,
        windows: WindowView,
        mirror: Mirror,
        clock: Clock,
        settings: ControllerSettings,
        releases: ReleaseService | None = None,
    ) -> None:
        self.service = service
        self.releases = releases
        self.entry, self.gateway = entry, entry.gateway
        self.windows = windows
        self.mirror = mirror
        self.clock = clock
        self.settings = settings
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        # running checks and their latest answers, by (rollout, "pre" | "post" | "custom:<step>")
        self._checks: dict[tuple[int, str], asyncio.Task[Check]] = {}
        self._answers: dict[tuple[int, str], Check] = {}
        self._floors: dict[int, list[Pool]] = {}
        self._warming: dict[int, asyncio.Task[None]] = {}  # the baseline's warm-up, per rollout
        self._mine: set[int] = set()

    def __repr__(self) -> str:
        return f"RolloutController(rollouts={len(self._mine)})"

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    def wake(self) -> None:
        """Tick now (thread-safe): an operator changed a rollout."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for task in self._checks.values():
            task.cancel()
        for rollout_id in list(self._mine):
            self._forget(rollout_id)
        try:
            await asyncio.to_thread(self.service.release, self.settings.node)
        except TurnoutError:
            log.warning("could not release this node's rollout leases")

    async def _run(self) -> None:
        while True:
            try:
                await self.tick_all()
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("rollout controller tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.tick_s)
            self._wake.clear()

    async def tick_all(self) -> None:
        mine: set[int] = set()
        releases: dict[int, list[RolloutRecord]] = {}
        for record in await asyncio.to_thread(self.service.running):
            if record.release_id is not None:  # a release's member: decided only with the others
                if self.releases is not None:
                    releases.setdefault(record.release_id, []).append(record)
                continue
            claimed = await asyncio.to_thread(
                self.service.claim, record.id, self.settings.node, self.settings.lease_s
            )
            if claimed:
                mine.add(record.id)
                await self.tick(record)
        for release_id, members in releases.items():
            # one lease per release: its oldest running member's; the node holding it decides every member
            claimed = await asyncio.to_thread(
                self.service.claim, members[0].id, self.settings.node, self.settings.lease_s
            )
            if claimed:
                mine.update(m.id for m in members)
                await self.tick_release(release_id, members)
        for gone in self._mine - mine:
            self._forget(gone)
        self._mine = mine

    async def tick(self, record: RolloutRecord) -> None:
        now = self.clock()
        metrics = self.metrics(record, now)
        pre, post = self._result(record.id, "pre"), self._result(record.id, "post")

        def decide(current: RolloutRecord, at: datetime) -> Decision:
            policy = current.plan.policy
            return machine.decide(current.rollout, metrics, policy, at, pre_hook=pre, post_hook=post)

        preview = decide(record, now)
        if preview.action in (Action.SET_WEIGHTS, Action.PROMOTE) and record.plan.warm:
            await self._warm_for(record, preview)
        done = await asyncio.to_thread(self.service.advance, record.id, decide)
        if done is None:
            self._forget(record.id)
            return
        record, decision = done
        if decision.action is not Action.HOLD or decision.state is not State.BAKING:
            log.info("rollout %d of %s/%s: %r", record.id, record.function, record.rollout.alias, decision)
        await self._act(record, decision)

    async def tick_release(self, release_id: int, members: list[RolloutRecord]) -> None:
        """One tick of a release rollout: every member's own decision from its own windows and checks,
        coordinated and applied by the release service in one transaction (members move in step, and
        one member going back takes them all back)."""
        assert self.releases is not None
        now = self.clock()
        observed = {
            m.id: (self.metrics(m, now), self._result(m.id, "pre"), self._result(m.id, "post"))
            for m in members
        }

        def decide(current: RolloutRecord, at: datetime) -> Decision:
            metrics, pre, post = observed.get(current.id, (Metrics(), None, None))
            policy = current.plan.policy
            return machine.decide(current.rollout, metrics, policy, at, pre_hook=pre, post_hook=post)

        for member in members:
            preview = decide(member, now)
            if preview.action in (Action.SET_WEIGHTS, Action.PROMOTE) and member.plan.warm:
                await self._warm_for(member, preview)
        done = await asyncio.to_thread(self.releases.advance, release_id, decide)
        if done is None:
            for member in members:
                self._forget(member.id)
            return
        for record, decision in done:
            if decision.action is not Action.HOLD or decision.state is not State.BAKING:
                log.info(
                    "release %d, rollout %d of %s/%s: %r",
                    release_id,
                    record.id,
                    record.function,
                    record.rollout.alias,
                    decision,
                )
            await self._act(record, decision)

    def metrics(self, record: RolloutRecord, now: datetime) -> Metrics:
        """The windows the gates judge: both versions over the same span, and the custom gate's result."""
        r, fn = record.rollout, record.function
        began = (r.step_started_at or r.state_since).timestamp()
        since = max(began, now.timestamp() - record.plan.window_s)
        compared, mismatches = self.windows.comparisons(fn, str(r.candidate), since)
        return Metrics(
            baseline=self.windows.window(fn, str(r.baseline), since),
            candidate=self.windows.window(fn, str(r.candidate), since),
            custom=self._result(record.id, f"custom:{r.step}"),
            shadow=self.windows.window(fn, str(r.candidate), since, SHADOW),
            compared=compared,
            mismatches=mismatches,
        )

    async def _act(self, record: RolloutRecord, decision: Decision) -> None:
        r, plan = record.rollout, record.plan
        if r.state in machine.TERMINAL:
            self._forget(record.id)
            return
        await self._keep_baseline_warm(record)
        if decision.action is Action.RUN_PRE_HOOK and plan.pre_hook is not None:
            self._check(record, "pre", plan.pre_hook)
        if decision.action is Action.RUN_POST_HOOK and plan.post_hook is not None:
            self._check(record, "post", plan.post_hook)
        if r.state is State.SHADOW and plan.shadow is not None:
            mirroring = Mirroring(
                record.id, r.baseline, r.candidate, plan.shadow.share_bp, plan.shadow.compare_output
            )
            self.mirror.start(record.function, r.alias, mirroring)
        else:
            self.mirror.stop(record.id)
        custom = plan.policy.gates.custom
        if custom is not None and r.state in _JUDGED:
            self._check(record, f"custom:{r.step}", Hook(function=custom), again=True)

    # -- checks: hooks and the custom gate ------------------------------------------------------------

    def _result(self, rollout_id: int, name: str) -> Check | None:
        """The check's latest answer (``None`` until it first reports)."""
        key = (rollout_id, name)
        task = self._checks.get(key)
        if task is not None and task.done():
            del self._checks[key]
            self._answers[key] = task.result()
        return self._answers.get(key)

    def _check(self, record: RolloutRecord, name: str, hook: Hook, again: bool = False) -> None:
        """Start the check unless it runs; a hook runs once, a gate (``again``) after each answer."""
        key = (record.id, name)
        if key in self._checks or (key in self._answers and not again):
            return
        self._checks[key] = asyncio.get_running_loop().create_task(self._run_check(record, name, hook))

    async def _run_check(self, record: RolloutRecord, name: str, hook: Hook) -> Check:
        try:
            if hook.events:
                return await self._test_events(record, hook)
            assert hook.function is not None
            return await self._ask(record, name, hook.function)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run fails
            log.exception("check %s of rollout %d failed to run", name, record.id)
            return Check(Verdict.FAIL, f"could not run: {exc}")

    async def _test_events(self, record: RolloutRecord, hook: Hook) -> Check:
        """Invoke the candidate (with the alias's settings) with each test event; any error fails."""
        r, table = record.rollout, self.gateway.table
        entry = await asyncio.to_thread(table.ensure, record.function)
        if entry is None or await asyncio.to_thread(table.version, entry, r.candidate) is None:
            return Check(Verdict.FAIL, f"version {r.candidate} of {record.function} is gone")
        target = entry.target(r.candidate, r.alias)
        arn = self.gateway.arn(record.function, r.alias)
        for index, event in enumerate(hook.events, 1):
            payload = json.dumps(event).encode()
            outcome = await self.gateway.supervisor.invoke(target, payload, new_request_id(), arn)
            if outcome.error is not None:
                detail = f"{outcome.error_code}: {outcome.error.get('message', '')}"
                return Check(Verdict.FAIL, f"test event {index} of {len(hook.events)}: {detail}")
        return Check(Verdict.PASS, f"{len(hook.events)} test event(s) passed")

    async def _ask(self, record: RolloutRecord, name: str, reference: str) -> Check:
        """Invoke a validator function of the user's with the rollout's facts; it answers pass or fail."""
        function, qualifier = split_qualified(reference)
        r = record.rollout
        event: dict[str, Any] = {
            "source": "turnout.rollout",
            "check": name.split(":")[0],
            "function": record.function,
            "alias": r.alias,
            "baseline": r.baseline,
            "candidate": r.candidate,
            "rollout": record.id,
            "state": r.state.value,
            "step": r.step,
        }
        if name.startswith("custom:"):
            event["metrics"] = _metrics_json(self.metrics(record, self.clock()))
        call = Invocation(function, qualifier, json.dumps(event).encode(), CONTROLLER)
        _, outcome = await self.entry.invoke(call, Door.HOOK)
        return verdict_of(outcome)

    # -- warming ----------------------------------------------------------------------------------------

    def _workers_for_share(self, record: RolloutRecord, share: float) -> int:
        """Warm workers for ``share`` of the traffic the two versions take now (Poisson headroom)."""
        r = record.rollout
        span = min(record.plan.window_s, 30)
        rate, p90_ms = self.windows.rate(record.function, [str(r.baseline), str(r.candidate)], span)
        busy_s = ((p90_ms or 10.0) + 2.0) / 1000.0
        return min(workers_for(rate * share * busy_s), self.gateway.supervisor.limit(record.function))

    async def _warm_for(self, record: RolloutRecord, preview: Decision) -> None:
        """Warm the candidate for the share of traffic ``preview`` is about to give it."""
        r = record.rollout
        share = (preview.weights_bp or {}).get(r.candidate, 0) / 10_000
        if share <= 0:
            return
        wanted = self._workers_for_share(record, share)
        baseline_pool = await self._pool(record, r.baseline)
        if r.strategy.blue_green and baseline_pool is not None:
            wanted = min(max(wanted, baseline_pool.size), self.gateway.supervisor.limit(record.function))
        pool = await self._pool(record, r.candidate)
        if pool is None:
            return
        self._hold(record.id, pool, wanted)
        try:
            await asyncio.wait_for(pool.warm(wanted), 30)
        except Exception:  # noqa: BLE001 - the step goes ahead; the candidate starts cold where it must
            log.exception("could not warm %d workers of %s for rollout %d", wanted, pool.key, record.id)

    async def _keep_baseline_warm(self, record: RolloutRecord) -> None:
        """Hold the baseline's pool while the rollout runs: never below its size, and (when the plan
        warms) ready for the share it still serves with the same headroom as the candidate, so a burst
        during a rollout meets warm workers on either side. The warm-up runs beside the ticks."""
        pool = await self._pool(record, record.rollout.baseline)
        if pool is None:
            return
        wanted = max(pool.floors.get(f"rollout:{record.id}", 0), pool.size, 1)
        if record.plan.warm:
            share = 1.0 - record.rollout.serving_bp / 10_000
            wanted = max(wanted, self._workers_for_share(record, share))
        self._hold(record.id, pool, wanted)
        running = self._warming.get(record.id)
        if pool.size < wanted and (running is None or running.done()):
            self._warming[record.id] = asyncio.get_running_loop().create_task(self._warm(pool, wanted))

    @staticmethod
    async def _warm(pool: Pool, count: int) -> None:
        try:
            await asyncio.wait_for(pool.warm(count), 30)
        except Exception:  # noqa: BLE001 - requests start the workers that could not be warmed
            log.exception("could not warm %d workers of %s", count, pool.key)

    def _hold(self, rollout_id: int, pool: Pool, count: int) -> None:
        pool.set_floor(f"rollout:{rollout_id}", count)
        held = self._floors.setdefault(rollout_id, [])
        if pool not in held:
            held.append(pool)

    async def _pool(self, record: RolloutRecord, version: int) -> Pool | None:
        table = self.gateway.table
        entry = await asyncio.to_thread(table.ensure, record.function)
        if entry is None or await asyncio.to_thread(table.version, entry, version) is None:
            return None
        return await self.gateway.supervisor.pool(entry.target(version, record.rollout.alias))

    def _forget(self, rollout_id: int) -> None:
        """The rollout is over (or another node has it): stop mirroring, let its pools cool, drop checks."""
        self.mirror.stop(rollout_id)
        for pool in self._floors.pop(rollout_id, []):
            pool.set_floor(f"rollout:{rollout_id}", 0)
        warming = self._warming.pop(rollout_id, None)
        if warming is not None:
            warming.cancel()
        for key in [k for k in self._checks if k[0] == rollout_id]:
            self._checks.pop(key).cancel()
        for key in [k for k in self._answers if k[0] == rollout_id]:
            del self._answers[key]
        self._mine.discard(rollout_id)


def workers_for(load: float) -> int:
    """Workers to keep ready for ``load`` busy workers on average (rate x duration): Poisson arrivals
    rarely exceed the mean by three standard deviations, plus one spare.

    >>> workers_for(0.04), workers_for(0.4), workers_for(4.0)
    (2, 4, 11)
    """
    return math.ceil(load + 3 * math.sqrt(load)) + 1


def verdict_of(outcome: Outcome) -> Check:
    """A validator's answer: ``true``, ``"pass"``/``"Succeeded"``, or ``{"status": ...}`` / ``{"pass": bool}``
    with an optional ``"message"``; ``"Pending"`` (a gate that cannot judge yet) holds; ``false``,
    ``"fail"``/``"Failed"``, anything else or an error fails.

    >>> verdict_of(Outcome("1", b'{"status": "Succeeded"}')).verdict.value
    'pass'
    >>> verdict_of(Outcome("1", b'{"pass": false, "message": "p99 too high"}'))
    Check(verdict=<Verdict.FAIL: 'fail'>, message='p99 too high')
    """
    if outcome.error is not None:
        return Check(Verdict.FAIL, f"{outcome.error_code}: {outcome.error.get('message', '')}")
    try:
        answer = json.loads(outcome.payload or b"null")
    except ValueError:
        return Check(Verdict.FAIL, "the validator's answer is not JSON")
    message = ""
    if isinstance(answer, dict):
        message = str(answer.get("message", ""))
        answer = answer.get("status", answer.get("pass"))
    word = answer.lower() if isinstance(answer, str) else answer
    if word in ("pending", "inprogress"):  # a custom gate that cannot judge yet: the step holds
        return Check(Verdict.PENDING, message or "the validator cannot judge yet")
    passed = answer is True or word in ("pass", "passed", "succeeded")
    return Check(Verdict.PASS if passed else Verdict.FAIL, message or f"the validator answered {answer!r}")


def _metrics_json(metrics: Metrics) -> dict[str, Any]:
    return {
        side: {
            "invocations": w.invocations,
            "errors": dict(w.errors),
            "error_rate": w.error_rate,
            "p50_ms": w.p50_ms,
            "p90_ms": w.p90_ms,
            "p99_ms": w.p99_ms,
        }
        for side, w in (("baseline", metrics.baseline), ("candidate", metrics.candidate))
    }
