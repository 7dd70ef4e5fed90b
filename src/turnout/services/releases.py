"""Releases: several functions' aliases moved as one - at once in one transaction, or as linked rollouts
that the controller decides together - and rolled back as one.

Every alias moves through ``AliasService.route`` inside the release's one transaction (so the alias
guards apply to each), with a history line that names the release in its reason and its details.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from turnout.clock import Clock
from turnout.domain import release as rules
from turnout.domain import rollout as machine
from turnout.domain.alias import AliasAction
from turnout.domain.function import Function
from turnout.domain.gates import Metrics
from turnout.domain.release import Member, ReleaseState
from turnout.domain.rollout import Action, Decision
from turnout.domain.routing import Routing
from turnout.errors import (
    AlreadyExists,
    InvalidRolloutTransition,
    NothingToRollBack,
    PreconditionFailed,
    ReleaseNotFound,
    RolloutInProgress,
)
from turnout.services.aliases import AliasService, load_alias
from turnout.services.functions import load_function
from turnout.services.resources import forced_note, guard_versions, refuse
from turnout.services.rollouts import ROLLOUT_ACTOR, RolloutRequest, RolloutService, single_version
from turnout.services.versions import load_version
from turnout.store import Store, Tx
from turnout.store.releases import MemberRecord, ReleaseRecord
from turnout.store.rollouts import RolloutRecord

MAX_HISTORY = 200


@dataclass(frozen=True)
class ReleaseView:
    """A release with its members' rollouts (a release rollout's), by rollout id."""

    release: ReleaseRecord
    rollouts: dict[int, RolloutRecord]


class ReleaseService:
    def __init__(self, store: Store, clock: Clock, aliases: AliasService, rollouts: RolloutService) -> None:
        self.store, self.clock = store, clock
        self.aliases, self.rollouts = aliases, rollouts

    def __repr__(self) -> str:
        return f"ReleaseService({self.store!r})"

    # -- create ------------------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        members: Sequence[Member],
        actor: str,
        reason: str = "",
        rollout: RolloutRequest | None = None,
        force: bool = False,
    ) -> ReleaseView:
        """Move every member's alias in one transaction (``rollout`` None), or start one rollout per member
        that the controller runs in step. Nothing is written when any member is wrong, or would send traffic
        to a version a shared resource's current version is out of range for (``Incompatible``; also a
        rollout's baseline, which its rollback returns to), unless ``force``: recorded in the history."""
        rules.check_release_name(name)
        checked = rules.check_members(members)
        now = self.clock()
        with self.store.write() as tx:
            if tx.releases.exists(name):
                raise AlreadyExists(
                    f"release {name!r} exists; a release's name is kept for its history and rollback - "
                    "choose another (e.g. a date or build suffix)",
                    release=name,
                )
            functions = _lock_functions(tx, [m.function for m in checked])
            planned = []
            for member in checked:
                function = functions[member.function]
                alias = load_alias(tx, function, member.alias)
                _refuse_running(tx, function, member.alias)
                load_version(tx, function, member.version)
                planned.append((member, function, alias))
            line = {"at": now.isoformat(), "actor": actor, "reason": reason}
            if rollout is None:
                state = ReleaseState.SUCCEEDED
                history = [{**line, "state": state.value, "event": "applied"}]
                release_id = tx.releases.insert(name, state, reason, actor, None, history, now)
                why = _why(name, reason)
                for position, (member, function, alias) in enumerate(planned):
                    after = Routing.single(member.version)
                    if alias.routing != after:
                        details = {"release": name, "release_id": release_id}
                        self.aliases.route(
                            tx, function, alias, after, actor, why, AliasAction.UPDATE, details, force=force
                        )
                    record = MemberRecord(
                        function.name, function.id, member.alias, member.version, alias.routing, after
                    )
                    tx.releases.add_member(release_id, position, record)
            else:
                state = ReleaseState.PENDING
                history = [{**line, "state": state.value, "event": "started"}]
                plan = {"strategy": rollout.strategy.to_json(), "plan": rollout.plan.to_json()}
                release_id = tx.releases.insert(name, state, reason, actor, plan, history, now)
                for position, (member, function, alias) in enumerate(planned):
                    baseline = _baseline(function, member.alias, alias.routing)
                    found = guard_versions(tx, function, (baseline, member.version))
                    if found and not force:
                        doing = f"release {name}: rollout of {function.name} alias {member.alias}"
                        raise refuse(found, f"{doing} ({baseline} → {member.version})")
                    started = machine.start(member.alias, baseline, member.version, rollout.strategy, now)
                    if found:
                        started = machine.noted(started, now, f"started by {actor}, {forced_note(found)}")
                    rollout_id = tx.rollouts.insert(
                        function.id, started, rollout.plan, actor, now, release_id
                    )
                    before, after = Routing.single(baseline), Routing.single(member.version)
                    record = MemberRecord(
                        function.name, function.id, member.alias, member.version, before, after, rollout_id
                    )
                    tx.releases.add_member(release_id, position, record)
            view = _view(tx, release_id)
        if rollout is not None:
            for wake in self.rollouts.wake:  # the controller's first tick comes at once
                wake()
        return view

    # -- read --------------------------------------------------------------------------------------------

    def get(self, name: str) -> ReleaseView:
        with self.store.read() as tx:
            found = tx.releases.get(rules.check_release_name(name))
            if found is None:
                raise ReleaseNotFound(f"there is no release {name!r}", release=name)
            return _view(tx, found.id)

    def list(self, limit: int = 50) -> builtins.list[ReleaseView]:
        with self.store.read() as tx:
            found = tx.releases.list(max(1, min(limit, 500)))
            return [_view(tx, r.id) for r in found]

    # -- rollback ----------------------------------------------------------------------------------------

    def rollback(self, name: str, actor: str, reason: str = "", force: bool = False) -> ReleaseView:
        """Every member's alias back to its recorded before-routing, in one transaction; refused as a whole
        when a member's alias has a rollout running, or (unless ``force``) was moved since the release or
        would go back to a version a shared resource has left behind (``Incompatible``)."""
        rules.check_release_name(name)
        now = self.clock()
        with self.store.write() as tx:
            found = tx.releases.get(name)
            if found is None:
                raise ReleaseNotFound(f"there is no release {name!r}", release=name)
            functions = _lock_functions(tx, [m.function for m in found.members])
            release = tx.releases.get(name, lock=True)
            assert release is not None
            if release.state in (ReleaseState.ROLLED_BACK, ReleaseState.FAILED, ReleaseState.ABORTED):
                raise NothingToRollBack(
                    f"release {name!r} is {release.state.value}: its aliases are already where they were",
                    release=name,
                )
            for member in release.members:
                _refuse_running(tx, functions[member.function], member.alias, release=name)
            aliases = [load_alias(tx, functions[m.function], m.alias) for m in release.members]
            moved = [
                f"{m.function}:{m.alias} now {a.routing.describe()} (the release set {m.after.describe()})"
                for m, a in zip(release.members, aliases, strict=True)
                if a.routing != m.after
            ]
            if moved and not force:
                raise PreconditionFailed(
                    f"release {name!r}: moved since by someone else: {'; '.join(moved)}; nothing was rolled "
                    "back - use --force to return every alias to where it was before the release anyway",
                    release=name,
                )
            why = f"release {name} rolled back" + (f": {reason}" if reason else "")
            for member, alias in zip(release.members, aliases, strict=True):
                if alias.routing != member.before:
                    function = functions[member.function]
                    details = {"release": name, "release_id": release.id, "forced": bool(moved)}
                    self.aliases.route(
                        tx,
                        function,
                        alias,
                        member.before,
                        actor,
                        why,
                        AliasAction.ROLLBACK,
                        details,
                        force=force,
                    )
            state = ReleaseState.ROLLED_BACK
            event = {"at": now.isoformat(), "actor": actor, "reason": reason, "state": state.value}
            event["event"] = "rolled back" + (" (forced)" if moved else "")
            tx.releases.save(release.id, state, _capped([*release.history, event]), now)
            return _view(tx, release.id)

    # -- steering a release rollout ----------------------------------------------------------------------

    def pause(self, name: str, actor: str, reason: str = "") -> ReleaseView:
        """Hold every member where it is (gates keep guarding); :meth:`resume` goes on."""
        why = reason or f"release {name} paused by {actor}"
        for record in self._steerable(name):
            if record.rollout.state is not machine.State.PAUSED:
                self.rollouts.pause(record.function, record.rollout.alias, actor, why)
        return self.get(name)

    def resume(self, name: str, actor: str) -> ReleaseView:
        """Resume every paused member (also those the compatibility guard held, once it no longer would)."""
        for record in self._steerable(name):
            if record.rollout.state is machine.State.PAUSED:
                self.rollouts.resume(record.function, record.rollout.alias, actor)
        return self.get(name)

    def abort(self, name: str, actor: str, reason: str = "", force: bool = False) -> ReleaseView:
        """Give every member's baseline its traffic back, in one transaction; refused (``Incompatible``) when
        a baseline is out of a shared resource's range, unless ``force``."""
        why = reason or f"release {name} aborted by {actor}"
        release_id = self._steerable(name)[0].release_id
        assert release_id is not None

        def abort(record: RolloutRecord, now: datetime) -> Decision:
            if record.rollout.state is machine.State.ROLLING_BACK:  # already on its way back
                return machine.decide(record.rollout, Metrics(), record.plan.policy, now)
            return machine.abort(record.rollout, now, why)

        self.advance(release_id, abort, actor=actor, force=force)
        for wake in self.rollouts.wake:
            wake()
        return self.get(name)

    def _steerable(self, name: str) -> builtins.list[RolloutRecord]:
        """The running member rollouts of release ``name`` (refused when it is not a running rollout)."""
        with self.store.read() as tx:
            found = tx.releases.get(rules.check_release_name(name))
            if found is None:
                raise ReleaseNotFound(f"there is no release {name!r}", release=name)
            running = [r for r in tx.rollouts.of_release(found.id) if r.active]
        if not running:
            raise InvalidRolloutTransition(
                f"release {name!r} is {found.state.value}: only a release rollout that is still running can "
                "be paused, resumed or aborted (a release made at once is undone with `release rollback`)",
                release=name,
            )
        return running

    # -- a release rollout, ticked by the controller -----------------------------------------------------

    def advance(
        self,
        release_id: int,
        decide: Callable[[RolloutRecord, datetime], Decision],
        *,
        actor: str = ROLLOUT_ACTOR,
        force: bool = False,
    ) -> builtins.list[tuple[RolloutRecord, Decision]] | None:
        """One controller tick of a release rollout: every member's ``decide`` (pure) on the locked, current
        state, coordinated (:func:`turnout.domain.release.coordinate`) and applied - every alias move, every
        rollout's new state and the release's - in one transaction. ``None`` once the release is over.
        An operator's change (``actor`` not the controller) that the compatibility guard refuses raises
        ``Incompatible`` unless ``force``; the controller's own is held instead."""
        with self.store.read() as tx:
            found = tx.releases.by_id(release_id)
        if found is None or found.state in rules.TERMINAL:
            return None
        with self.store.write() as tx:
            functions = _lock_functions(tx, [m.function for m in found.members])
            release = tx.releases.by_id(release_id, lock=True)
            records = tx.rollouts.of_release(release_id, lock=True)
            if release is None or not records:
                return None
            now = self.clock()
            own = [decide(r, now) if r.active else _over(r) for r in records]
            decisions = rules.coordinate([r.rollout for r in records], own, now, release.name)
            decisions = self._guard(tx, functions, records, decisions, now, actor, force)
            done = []
            for record, decision in zip(records, decisions, strict=True):
                if not record.active:
                    continue
                if decision.routing is not None:
                    self._route(tx, functions[record.function], record, decision, release, actor, force)
                tx.rollouts.save(record.id, decision.rollout, now)
                done.append((replace(record, rollout=decision.rollout, updated_at=now), decision))
            state = rules.release_state([d.rollout.state for d in decisions])
            if state is not release.state:
                reason = next(
                    (d.reason for d in decisions if d.action is Action.ROLL_BACK), decisions[0].reason
                )
                event = {"at": now.isoformat(), "actor": ROLLOUT_ACTOR, "state": state.value}
                event.update(event="state", reason=reason)
                tx.releases.save(release.id, state, _capped([*release.history, event]), now)
        return done

    def _guard(
        self,
        tx: Tx,
        functions: dict[str, Function],
        records: Sequence[RolloutRecord],
        decisions: builtins.list[Decision],
        now: datetime,
        actor: str,
        force: bool,
    ) -> builtins.list[Decision]:
        """The compatibility guard of the members' moves: when one member may not move (its step or its
        rollback would send traffic to a version a shared resource's version is out of range for), no
        member moves: each is held, paused with that member's reason, for an operator."""
        for record, decision in zip(records, decisions, strict=True):
            if not record.active:
                continue
            operator = actor != ROLLOUT_ACTOR
            held = self.rollouts.guard(tx, functions[record.function], record, decision, now, operator, force)
            if held is not decision:
                return [
                    machine.blocked(r.rollout, now, f"release held: {held.reason}") if r.active else d
                    for r, d in zip(records, decisions, strict=True)
                ]
        return list(decisions)

    def _route(
        self,
        tx: Tx,
        function: Function,
        record: RolloutRecord,
        decision: Decision,
        release: ReleaseRecord,
        actor: str,
        force: bool,
    ) -> None:
        alias = load_alias(tx, function, record.rollout.alias)
        assert decision.routing is not None
        if alias.routing == decision.routing:
            return
        action = AliasAction.ROLLBACK if decision.action is Action.ROLL_BACK else AliasAction.ROLLOUT
        details: dict[str, Any] = {"rollout": record.id, "release": release.name, "figures": decision.figures}
        details["release_id"] = release.id
        why = decision.reason
        if not why.startswith(f"release {release.name}"):
            why = f"release {release.name}: {why}"
        self.aliases.route(tx, function, alias, decision.routing, actor, why, action, details, force=force)


def _why(name: str, reason: str) -> str:
    return f"release {name}" + (f": {reason}" if reason else "")


def _over(record: RolloutRecord) -> Decision:
    """A finished member's 'decision': it stays as it is."""
    return Decision(Action.FINISH, record.rollout, None, f"the rollout is over: {record.rollout.state}", {})


def _capped(history: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
    return history[-MAX_HISTORY:]


def _lock_functions(tx: Tx, names: Sequence[str]) -> dict[str, Function]:
    """Each function row locked once, in name order (so two releases never wait on each other in a ring)."""
    return {name: load_function(tx, name, lock=True) for name in sorted(set(names))}


def _refuse_running(tx: Tx, function: Function, alias: str, release: str | None = None) -> None:
    running = tx.rollouts.active(function.id, alias, lock=True)
    if running is None:
        return
    r = running.rollout
    ours = release is not None and running.release_id is not None
    hint = (
        f"release {release!r} is still rolling out; abort one of its members' rollouts "
        f"(`turnout rollout abort {function.name} {alias}`) and the whole release rolls back"
        if ours
        else "wait for it, or abort it first"
    )
    raise RolloutInProgress(
        f"alias {alias!r} of {function.name!r} has rollout {running.id} running "
        f"({r.baseline} → {r.candidate}, {r.state.value}); {hint}",
        rollout=running.id,
    )


def _baseline(function: Function, alias: str, routing: Routing) -> int:
    return single_version(function, alias, routing.versions, "a release rollout")


def _view(tx: Tx, release_id: int) -> ReleaseView:
    release = tx.releases.by_id(release_id)
    assert release is not None
    rollouts = {}
    for member in release.members:
        if member.rollout_id is not None:
            found = tx.rollouts.get(member.rollout_id)
            if found is not None:
                rollouts[found.id] = found
    return ReleaseView(release, rollouts)
