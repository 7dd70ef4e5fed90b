"""Aliases: point, split, swap, roll back, delete — each change one transaction with a history line."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace

from turnout.clock import Clock
from turnout.domain import rollout as rollout_machine
from turnout.domain.alias import Alias, AliasAction, AliasChange, rollback_target
from turnout.domain.function import Function
from turnout.domain.gates import Metrics
from turnout.domain.names import check_alias_name, check_env_key
from turnout.domain.routing import Routing
from turnout.errors import AliasInUse, AliasNotFound, InvalidInput, RolloutInProgress, VersionNotFound
from turnout.keyring import Keyring
from turnout.services.changes import ChangeFeed
from turnout.services.functions import check_revision, load_function
from turnout.services.resources import forced_note, guard_routing, refuse
from turnout.store import Store, Tx


@dataclass(frozen=True)
class AliasChanges:
    """What an alias update changes; ``None`` keeps the current value."""

    routing: Routing | None = None
    description: str | None = None
    settings: Mapping[str, str] | None = None
    secret_keys: frozenset[str] | None = None


def load_alias(tx: Tx, function: Function, name: str) -> Alias:
    found = tx.aliases.get(function.id, check_alias_name(name))
    if found is None:
        raise AliasNotFound(
            f"function {function.name!r} has no alias {name!r}", function=function.name, alias=name
        )
    return found


class AliasService:
    def __init__(
        self, store: Store, clock: Clock, keyring: Keyring, changes: ChangeFeed | None = None
    ) -> None:
        self.store, self.clock, self.keyring = store, clock, keyring
        self.changes = changes or ChangeFeed()

    def put(
        self,
        function_name: str,
        name: str,
        changes: AliasChanges,
        actor: str,
        reason: str = "",
        if_match: str | None = None,
        force: bool = False,
    ) -> tuple[Alias, bool]:
        """Create or update an alias. Returns (alias, created). Moving an alias that a rollout is moving
        is refused (``RolloutInProgress``) unless ``force``, which aborts the rollout first. Sending traffic
        to a version that does not accept a shared resource's current version is refused
        (``Incompatible``) unless ``force``, which records the override in the history line."""
        check_alias_name(name)
        _check_settings(changes)
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            current = tx.aliases.get(function.id, name)
            check_revision("alias", if_match, None if current is None else current.revision_id)
            if current is None:
                if changes.routing is None:
                    raise InvalidInput(f"alias {name!r} is new: say which version(s) it points to")
                current = self._blank(function, name, changes.routing)
                created = True
            else:
                created = False
            updated = replace(
                current,
                routing=changes.routing or current.routing,
                description=current.description if changes.description is None else changes.description,
                settings=current.settings if changes.settings is None else dict(changes.settings),
                secret_keys=current.secret_keys if changes.secret_keys is None else changes.secret_keys,
            )
            sealed = self.keyring.seal_environment(updated.settings, updated.secret_keys, current.settings)
            updated = replace(updated, settings=sealed)
            if not created and updated == current:
                return current, False
            before = None if created else current.routing
            note: dict[str, object] = {}
            if created or updated.routing != current.routing:
                doing = f"pointing alias {name} of {function.name} at {updated.routing.describe()}"
                reason, note = self._guard(tx, function, before, updated.routing, force, doing, reason)
            if not created and updated.routing != current.routing:
                self._end_rollout(tx, function, name, actor, force)
            action = (
                AliasAction.CREATE
                if created
                else AliasAction.UPDATE
                if updated.routing != current.routing
                else AliasAction.SETTINGS
            )
            saved = self._save(tx, function, updated, exists=not created)
            self._record(tx, function, name, action, before, saved.routing, actor, reason, note)
            return saved, created

    def get(self, function_name: str, name: str) -> Alias:
        with self.store.read() as tx:
            return load_alias(tx, load_function(tx, function_name), name)

    def list(self, function_name: str) -> list[Alias]:
        with self.store.read() as tx:
            return tx.aliases.list(load_function(tx, function_name).id)

    def delete(
        self, function_name: str, name: str, actor: str, reason: str = "", force: bool = False
    ) -> None:
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            alias = load_alias(tx, function, name)
            followers = _followers(tx, function.id).get(name, [])
            if followers:
                raise AliasInUse(
                    f"alias {name!r} of {function.name!r} is followed by {', '.join(followers)}; "
                    "delete those triggers or point them at another qualifier first",
                    alias=name,
                    triggers=followers,
                )
            self._end_rollout(tx, function, name, actor, force)
            tx.aliases.delete(function.id, name)
            tx.provisioned.remove(function.id, name)
            tx.event_configs.remove(function.id, name)
            tx.policies.forget(function.id, name)
            tx.function_urls.delete(function.id, name)
            self._record(tx, function, name, AliasAction.DELETE, alias.routing, None, actor, reason)

    def swap(
        self, function_name: str, a: str, b: str, actor: str, reason: str = "", force: bool = False
    ) -> tuple[Alias, Alias]:
        """Exchange two aliases' targets in one transaction; their settings stay where they are."""
        if a == b:
            raise InvalidInput(f"cannot swap alias {a!r} with itself")
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            first, second = load_alias(tx, function, a), load_alias(tx, function, b)
            reasons: dict[str, str] = {}
            notes: dict[str, dict[str, object]] = {}
            for old, new in ((first, second), (second, first)):
                doing = f"swapping aliases {a} and {b} of {function.name}"
                reasons[old.name], notes[old.name] = self._guard(
                    tx, function, old.routing, new.routing, force, doing, reason
                )
            for name in (a, b):
                self._end_rollout(tx, function, name, actor, force)
            new_first = self._save(tx, function, replace(first, routing=second.routing), exists=True)
            new_second = self._save(tx, function, replace(second, routing=first.routing), exists=True)
            for old, new, other in ((first, new_first, b), (second, new_second, a)):
                self._record(
                    tx,
                    function,
                    old.name,
                    AliasAction.SWAP,
                    old.routing,
                    new.routing,
                    actor,
                    reasons[old.name],
                    {"with": other, **notes[old.name]},
                )
            return new_first, new_second

    def rollback(
        self,
        function_name: str,
        name: str,
        actor: str,
        to: int | None = None,
        reason: str = "",
        force: bool = False,
    ) -> Alias:
        """Return the alias to its previous target (from history), or to version ``to``."""
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            current = load_alias(tx, function, name)
            self._end_rollout(tx, function, name, actor, force)
            if to is not None:
                target = Routing.single(to)
            else:
                target = rollback_target(current.routing, tx.aliases.history(function.id, name, limit=500))
            if target == current.routing:
                return current
            _check_versions_exist(tx, function, target)
            doing = f"rolling alias {name} of {function.name} back to {target.describe()}"
            reason, note = self._guard(tx, function, current.routing, target, force, doing, reason)
            saved = self._save(tx, function, replace(current, routing=target), exists=True)
            self._record(
                tx, function, name, AliasAction.ROLLBACK, current.routing, target, actor, reason, note
            )
            return saved

    def history(self, function_name: str, name: str, limit: int = 100) -> builtins.list[AliasChange]:
        with self.store.read() as tx:
            function = load_function(tx, function_name)
            return tx.aliases.history(function.id, check_alias_name(name), max(1, min(limit, 1000)))

    def route(
        self,
        tx: Tx,
        function: Function,
        alias: Alias,
        routing: Routing,
        actor: str,
        reason: str,
        action: AliasAction,
        details: Mapping[str, object],
        *,
        force: bool = False,
    ) -> Alias:
        """Point ``alias`` at ``routing`` inside the caller's transaction (a rollout's step or rollback, a
        release). Versions that gain traffic must accept the shared resources' current versions
        (``Incompatible`` otherwise, nothing written); ``force`` goes past that and says so in the history."""
        doing = f"moving alias {alias.name} of {function.name} to {routing.describe()}"
        reason, note = self._guard(tx, function, alias.routing, routing, force, doing, reason)
        saved = self._save(tx, function, replace(alias, routing=routing), exists=True)
        self._record(
            tx, function, alias.name, action, alias.routing, routing, actor, reason, {**details, **note}
        )
        return saved

    def _guard(
        self,
        tx: Tx,
        function: Function,
        before: Routing | None,
        after: Routing,
        force: bool,
        doing: str,
        reason: str,
    ) -> tuple[str, dict[str, object]]:
        """The compatibility guard of one alias move: refuses it (``Incompatible``) unless ``force``; a
        forced move gets the override in its reason and details (the history line shows it)."""
        _check_versions_exist(tx, function, after)
        found = guard_routing(tx, function, before, after)
        if not found:
            return reason, {}
        if not force:
            raise refuse(found, doing)
        note = forced_note(found)
        return (f"{reason} [{note}]" if reason else note), {"forced_past": [c.to_json() for c in found]}

    def _end_rollout(self, tx: Tx, function: Function, name: str, actor: str, force: bool) -> None:
        """A change by hand to an alias a rollout is moving: refused, or (``force``) the rollout is aborted
        in the same transaction and the change applies instead of its rollback."""
        running = tx.rollouts.active(function.id, name, lock=True)
        if running is None:
            return
        moving = f"{running.rollout.baseline} → {running.rollout.candidate}, {running.rollout.state.value}"
        if not force:
            raise RolloutInProgress(
                f"alias {name!r} of {function.name!r} is being moved by rollout {running.id} ({moving}); "
                "abort the rollout first, or force the change (which aborts it)",
                rollout=running.id,
            )
        now = self.clock()
        rollout = running.rollout
        if rollout.state is not rollout_machine.State.ROLLING_BACK:  # else already on its way out
            why = f"aborted: {actor} changed alias {name} by hand (forced)"
            rollout = rollout_machine.abort(rollout, now, why).rollout
        ended = rollout_machine.decide(rollout, Metrics(), running.plan.policy, now).rollout
        tx.rollouts.save(running.id, ended, now)

    def _blank(self, function: Function, name: str, routing: Routing) -> Alias:
        now = self.clock()
        return Alias(function.id, name, routing, "", {}, frozenset(), "", now, now)

    def _save(self, tx: Tx, function: Function, alias: Alias, exists: bool) -> Alias:
        _check_versions_exist(tx, function, alias.routing)
        saved = replace(alias, revision_id=str(uuid.uuid4()), updated_at=self.clock())
        tx.aliases.save(saved, exists=exists)
        return saved

    def _record(
        self,
        tx: Tx,
        function: Function,
        alias: str,
        action: AliasAction,
        before: Routing | None,
        after: Routing | None,
        actor: str,
        reason: str,
        details: Mapping[str, object] | None = None,
    ) -> None:
        change = AliasChange(alias, action, before, after, actor, reason, self.clock(), details=details or {})
        tx.aliases.record(function.id, change)
        tx.announce(function.name)  # every alias change records a line: the routing tables follow it


def _check_versions_exist(tx: Tx, function: Function, routing: Routing) -> None:
    wanted = {number for number in routing.versions if number is not None}
    missing = sorted(wanted - tx.versions.existing(function.id, wanted)) if wanted else []
    if missing:
        raise VersionNotFound(
            f"function {function.name!r} has no version {missing[0]} (never published, or removed by gc)",
            function=function.name,
            version=missing[0],
        )


def _check_settings(changes: AliasChanges) -> None:
    for key, value in (changes.settings or {}).items():
        check_env_key(key)
        if not isinstance(value, str):
            raise InvalidInput(f"alias setting {key!r} must be a string")
    if changes.description is not None and len(changes.description) > 256:
        raise InvalidInput("an alias description has at most 256 characters")


def _followers(tx: Tx, function_id: int) -> dict[str, builtins.list[str]]:
    """Aliases of the function that routes or schedules follow, with their labels (``route GET /x``,
    ``schedule nightly``): an alias listed here must not be deleted (AliasInUse)."""
    found = tx.routes.alias_references(function_id)
    for alias, names in tx.schedules.alias_references(function_id).items():
        found[alias] = found.get(alias, []) + names
    return found
