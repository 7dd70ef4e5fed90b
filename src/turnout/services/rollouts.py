"""Rollouts: start one, ask about it, steer it (pause, resume, promote, abort), and apply the controller's
decisions - each decision, the alias change it carries and its history line in one transaction."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from turnout.clock import Clock
from turnout.domain import rollout as machine
from turnout.domain.alias import AliasAction
from turnout.domain.function import Function
from turnout.domain.names import check_alias_name
from turnout.domain.plan import Plan, check_reference
from turnout.domain.rollout import Action, Decision, Rollout
from turnout.domain.strategy import Strategy
from turnout.domain.version_number import looks_numeric, parse_version_number
from turnout.errors import (
    InvalidAliasTarget,
    InvalidInput,
    InvalidRolloutTransition,
    RolloutInProgress,
    RolloutNotFound,
)
from turnout.services.aliases import AliasService, load_alias
from turnout.services.changes import ChangeFeed
from turnout.services.functions import load_function
from turnout.services.resources import forced_note, guard_routing, guard_versions, refuse
from turnout.services.versions import load_version
from turnout.store import Store, Tx
from turnout.store.rollouts import RolloutRecord

log = logging.getLogger(__name__)
ROLLOUT_ACTOR = "rollout"


@dataclass(frozen=True)
class RolloutRequest:
    """What `rollout start` asks for: the candidate, how traffic moves to it, and how it is judged."""

    to: int
    strategy: Strategy
    plan: Plan


class RolloutService:
    def __init__(self, store: Store, clock: Clock, changes: ChangeFeed, aliases: AliasService) -> None:
        self.store, self.clock = store, clock
        self.changes = changes
        self.aliases = aliases
        # told (in the caller's thread) when an operator changed a rollout, so the controller acts at once
        self.wake: builtins.list[Callable[[], None]] = []
        self.blocked_total = 0  # rollouts held because a move they decided was incompatible
        # told (function, alias) after a rollout was held that way commits: the metric, alerts
        self.blocked: builtins.list[Callable[[str, str], None]] = []

    def __repr__(self) -> str:
        return f"RolloutService({self.store!r})"

    def start(
        self,
        function_name: str,
        alias_name: str,
        request: RolloutRequest,
        actor: str,
        *,
        force: bool = False,
    ) -> RolloutRecord:
        """Record a new ``pending`` rollout; nothing moves until the controller's first tick. Both the
        candidate and the baseline (which a rollback gives traffic back to) must accept the shared
        resources' current versions: ``Incompatible`` otherwise, unless ``force`` (noted in its history)."""
        check_alias_name(alias_name)
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            alias = load_alias(tx, function, alias_name)
            running = tx.rollouts.active(function.id, alias_name, lock=True)
            if running is not None:
                raise RolloutInProgress(
                    f"alias {alias_name!r} of {function_name!r} already has a rollout running "
                    f"({_moving(running.rollout)}); wait for it, or abort it first",
                    rollout=running.id,
                )
            baseline = single_version(function, alias_name, alias.routing.versions)
            candidate = load_version(tx, function, request.to)
            if request.plan.shadow is not None and not candidate.config.idempotent:
                raise InvalidInput(
                    f"shadow traffic runs version {request.to} of {function_name!r} a second time for "
                    "requests the baseline already answers; declare the function idempotent "
                    "(`idempotent = true` in turnout.toml, then publish) to allow it"
                )
            for reference in _references(request.plan):
                name, qualifier = check_reference(reference)
                checked = load_function(tx, name)
                if qualifier is not None and looks_numeric(qualifier):
                    load_version(tx, checked, parse_version_number(qualifier, reference))
                elif qualifier is not None:
                    load_alias(tx, checked, qualifier)
            found = guard_versions(tx, function, (baseline, request.to))
            if found and not force:
                raise refuse(
                    found, f"rollout of {function_name} alias {alias_name} ({baseline} → {request.to})"
                )
            now = self.clock()
            rollout = machine.start(alias_name, baseline, request.to, request.strategy, now)
            if found:
                rollout = machine.noted(rollout, now, f"started by {actor}, {forced_note(found)}")
            rollout_id = tx.rollouts.insert(function.id, rollout, request.plan, actor, now)
            record = tx.rollouts.get(rollout_id)
        assert record is not None
        self._wake()
        return record

    def current(self, function_name: str, alias_name: str) -> RolloutRecord:
        """The alias's running rollout, else its most recent one."""
        with self.store.read() as tx:
            function = load_function(tx, function_name)
            load_alias(tx, function, alias_name)
            found = tx.rollouts.active(function.id, alias_name) or tx.rollouts.latest(function.id, alias_name)
        if found is None:
            raise RolloutNotFound(
                f"alias {alias_name!r} of {function_name!r} has never had a rollout", alias=alias_name
            )
        return found

    def history(self, function_name: str, alias_name: str, limit: int = 20) -> builtins.list[RolloutRecord]:
        with self.store.read() as tx:
            function = load_function(tx, function_name)
            return tx.rollouts.history(function.id, check_alias_name(alias_name), max(1, min(limit, 200)))

    def running(self) -> builtins.list[RolloutRecord]:
        with self.store.read() as tx:
            return tx.rollouts.running()

    def claim(self, rollout_id: int, owner: str, lease_s: float) -> bool:
        """Take or keep the rollout's lease; taking it from another node is a line in its history."""
        now = self.clock()
        with self.store.write() as tx:
            previous = tx.rollouts.holder(rollout_id)
            if not tx.rollouts.claim(rollout_id, owner, now + timedelta(seconds=lease_s), now):
                return False
            if previous is not None and previous != owner:
                record = tx.rollouts.get(rollout_id)
                if record is not None and record.active:
                    tx.rollouts.save(
                        rollout_id, machine.taken_over(record.rollout, now, previous, owner), now
                    )
            return True

    def release(self, owner: str) -> None:
        with self.store.write() as tx:
            tx.rollouts.release(owner)

    def advance(
        self, rollout_id: int, decide: Callable[[RolloutRecord, datetime], Decision]
    ) -> tuple[RolloutRecord, Decision] | None:
        """Apply one controller tick: ``decide`` (pure) runs on the locked, current state. ``None`` when the
        rollout is over (or gone) by the time the lock is held."""
        return self._change(rollout_id, decide, ROLLOUT_ACTOR)

    def pause(self, function_name: str, alias_name: str, actor: str, reason: str = "") -> RolloutRecord:
        why = reason or f"paused by {actor}"
        return self._operate(
            function_name, alias_name, actor, lambda r, now: machine.pause(r.rollout, now, why)
        )

    def resume(self, function_name: str, alias_name: str, actor: str) -> RolloutRecord:
        return self._operate(function_name, alias_name, actor, lambda r, now: machine.resume(r.rollout, now))

    def promote(self, function_name: str, alias_name: str, actor: str, reason: str = "") -> RolloutRecord:
        why = reason or f"promoted by {actor}: remaining steps skipped"

        def promote(record: RolloutRecord, now: datetime) -> Decision:
            if record.release_id is not None:  # one member at 100% while the others bake breaks the step
                raise InvalidRolloutTransition(
                    f"rollout {record.id} is a member of a release rollout, whose members move in step: "
                    "it cannot be promoted alone (pause, resume, or abort it - which rolls the release back)",
                    rollout=record.id,
                )
            return machine.promote(record.rollout, record.plan.policy, now, why)

        return self._operate(function_name, alias_name, actor, promote)

    def abort(
        self, function_name: str, alias_name: str, actor: str, reason: str = "", force: bool = False
    ) -> RolloutRecord:
        """Give the baseline its traffic back. When the baseline no longer accepts a shared resource's
        version this is refused (``Incompatible``) unless ``force``, recorded in the alias's history."""
        why = reason or f"aborted by {actor}"
        return self._operate(
            function_name, alias_name, actor, lambda r, now: machine.abort(r.rollout, now, why), force
        )

    def _operate(
        self,
        function_name: str,
        alias_name: str,
        actor: str,
        change: Callable[[RolloutRecord, datetime], Decision],
        force: bool = False,
    ) -> RolloutRecord:
        with self.store.read() as tx:
            function = load_function(tx, function_name)
            load_alias(tx, function, alias_name)
            running = tx.rollouts.active(function.id, check_alias_name(alias_name))
        if running is None:
            raise RolloutNotFound(f"alias {alias_name!r} of {function_name!r} has no rollout running")
        done = self._change(running.id, change, actor, operator=True, force=force)
        if done is None:
            raise RolloutNotFound(f"the rollout of {alias_name!r} of {function_name!r} has just finished")
        self._wake()
        return done[0]

    def _change(
        self,
        rollout_id: int,
        change: Callable[[RolloutRecord, datetime], Decision],
        actor: str,
        *,
        operator: bool = False,
        force: bool = False,
    ) -> tuple[RolloutRecord, Decision] | None:
        with self.store.read() as tx:
            found = tx.rollouts.get(rollout_id)
        if found is None or not found.active:
            return None
        with self.store.write() as tx:
            # the function row first, then the rollout's: the order alias changes take them in
            function = load_function(tx, found.function, lock=True)
            record = tx.rollouts.get(rollout_id, lock=True)
            if record is None or not record.active:
                return None
            now = self.clock()
            decision = change(record, now)
            guarded = self.guard(tx, function, record, decision, now, operator, force)
            newly_blocked = guarded is not decision and guarded.rollout.history != record.rollout.history
            decision = guarded
            if decision.routing is not None and self._route(tx, function, record, decision, actor, force):
                tx.announce(record.function)
            tx.rollouts.save(record.id, decision.rollout, now)
            record = replace(record, rollout=decision.rollout, updated_at=now)
        if newly_blocked:
            self.blocked_total += 1
            for hook in self.blocked:
                hook(record.function, record.rollout.alias)
        return record, decision

    def guard(
        self,
        tx: Tx,
        function: Function,
        record: RolloutRecord,
        decision: Decision,
        now: datetime,
        operator: bool,
        force: bool,
    ) -> Decision:
        """The compatibility guard of a decision that moves traffic. An operator's move is refused
        (``Incompatible``) unless forced; the controller's own (an automatic rollback, a step) never sends
        traffic to an incompatible version: the rollout is held, paused with the reason, for an operator."""
        if decision.routing is None or force:
            return decision
        alias = load_alias(tx, function, record.rollout.alias)
        found = guard_routing(tx, function, alias.routing, decision.routing)
        if not found:
            return decision
        rollout = record.rollout
        moving = (
            f"rollback to {rollout.baseline}"
            if decision.action is Action.ROLL_BACK
            else f"{decision.action.value} to {decision.routing.describe()}"
        )
        if operator:
            raise refuse(found, f"{moving} of alias {rollout.alias} of {function.name}")
        why = "; ".join(f"{c.resource} is {c.current}, {c.label} requires {c.specifier}" for c in found)
        reason = (
            f"{moving} blocked: {why} (cause: {decision.reason}); the alias stays at "
            f"{alias.routing.describe()} until an operator acts: `turnout rollout abort --force`, "
            "`turnout alias set --force`, or `turnout resource set` back into range"
        )
        blocked = machine.blocked(rollout, now, reason)
        if blocked.rollout.history != rollout.history:  # once, when it starts blocking
            log.warning("rollout %d of %s/%s: %s", record.id, function.name, rollout.alias, reason)
        return blocked

    def _route(
        self,
        tx: Tx,
        function: Function,
        record: RolloutRecord,
        decision: Decision,
        actor: str,
        force: bool = False,
    ) -> bool:
        alias = load_alias(tx, function, record.rollout.alias)
        assert decision.routing is not None
        if alias.routing == decision.routing:
            return False
        action = AliasAction.ROLLBACK if decision.action is Action.ROLL_BACK else AliasAction.ROLLOUT
        details = {"rollout": record.id, "figures": decision.figures}
        self.aliases.route(
            tx, function, alias, decision.routing, actor, decision.reason, action, details, force=force
        )
        return True

    def _wake(self) -> None:
        for wake in self.wake:
            wake()


def single_version(
    function: Function, alias: str, versions: tuple[int | None, ...], what: str = "a rollout"
) -> int:
    """The one published version an alias points at: where ``what`` (a rollout) starts from."""
    if len(versions) != 1 or versions[0] is None:
        shown = "$LATEST" if versions == (None,) else f"{len(versions)} versions"
        raise InvalidAliasTarget(
            f"alias {alias!r} of {function.name!r} points at {shown}; {what} starts from one published "
            "version - point the alias at it first"
        )
    return versions[0]


def _references(plan: Plan) -> builtins.list[str]:
    hooks = [h.function for h in (plan.pre_hook, plan.post_hook) if h is not None and h.function]
    return [*hooks, *([plan.policy.gates.custom] if plan.policy.gates.custom else [])]


def _moving(rollout: Rollout) -> str:
    return f"{rollout.baseline} → {rollout.candidate}, {rollout.state.value}"
