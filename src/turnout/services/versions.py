"""Publishing immutable versions, reading them, deleting them, and garbage collection."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from turnout.blobs import BlobStore
from turnout.build.layer import Layer, LayerBuilder
from turnout.clock import Clock
from turnout.domain.config import fingerprint
from turnout.domain.function import Function, Version
from turnout.domain.retention import plan_retention
from turnout.errors import (
    DependencyResolutionFailed,
    FunctionImportFailed,
    HandlerNotFound,
    InvalidInput,
    PreconditionFailed,
    VersionInUse,
    VersionNotFound,
)
from turnout.services.changes import ChangeFeed
from turnout.services.functions import check_revision, load_function
from turnout.store import Store, Tx

ImportCheck = Callable[[Function, str | None], dict[str, Any] | None]


@dataclass(frozen=True)
class GcReport:
    function: str
    dry_run: bool
    deleted_versions: tuple[int, ...]
    kept_versions: tuple[int, ...]
    pinned: dict[int, tuple[str, ...]]
    deleted_blobs: tuple[str, ...] = field(default=())
    deleted_layers: tuple[str, ...] = field(default=())


def load_version(tx: Tx, function: Function, number: int) -> Version:
    found = tx.versions.get(function.id, number)
    if found is None:
        raise VersionNotFound(
            f"function {function.name!r} has no version {number}", function=function.name, version=number
        )
    return found


def _fingerprint(function: Function) -> str:
    return fingerprint(function.bundle_sha256, function.config, function.dependencies)


def _check_preconditions(function: Function, code_sha256: str | None, revision_id: str | None) -> None:
    if code_sha256 is not None and code_sha256 != function.bundle_sha256:
        raise PreconditionFailed(
            f"the draft's code is {function.bundle_sha256}, not {code_sha256}: "
            "someone deployed other code since you looked",
            current_code_sha256=function.bundle_sha256,
        )
    check_revision("draft", revision_id, function.revision_id)


class VersionService:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        clock: Clock,
        blob_grace_seconds: int,
        layers: LayerBuilder | None = None,
        changes: ChangeFeed | None = None,
    ) -> None:
        self.store, self.blobs, self.clock = store, blobs, clock
        self.blob_grace_seconds = blob_grace_seconds
        self.layers = layers
        self.changes = changes or ChangeFeed()
        # layer keys the worker pools of this node run with (drafts' layers too); set by the runtime
        self.layers_in_use: Callable[[], set[str]] = set
        # (function, layer key) -> None if the handler imports, else the worker's error; set by the runtime
        self.import_check: ImportCheck | None = None

    def publish(
        self,
        name: str,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> tuple[Version, bool]:
        """Snapshot the draft as version N+1, or return the newest version if nothing changed.

        Returns (version, created). ``code_sha256``/``revision_id`` are preconditions on the draft.

        The draft's dependencies are resolved and their layer built before the write transaction
        (it is slow, and nothing is written when it fails); the transaction then checks the
        dependencies are still the ones resolved, and resolves once more if they changed meanwhile.
        An unchanged draft returns the newest version from a read transaction, without resolving.
        """
        if description is not None and len(description) > 256:
            raise InvalidInput("a version description has at most 256 characters")
        with self.store.read() as tx:
            function = load_function(tx, name)
            _check_preconditions(function, code_sha256, revision_id)
            latest = tx.versions.latest(function.id)
            if latest is not None and latest.fingerprint == _fingerprint(function):
                return latest, False
        for _attempt in range(2):
            checked = _fingerprint(function)
            resolved = self._resolve(function.dependencies)
            self._check_import(function, resolved[1])
            with self.store.write() as tx:
                function = load_function(tx, name, lock=True)
                _check_preconditions(function, code_sha256, revision_id)
                snapshot = _fingerprint(function)
                latest = tx.versions.latest(function.id)
                if latest is not None and latest.fingerprint == snapshot:
                    return latest, False
                if snapshot != checked:
                    continue  # the draft changed while it was resolved and checked: do it again
                self.blobs.get(function.bundle_sha256)  # verified read: never publish a damaged bundle
                pinned, layer = resolved
                version = Version(
                    function_id=function.id,
                    number=function.last_version + 1,
                    bundle_sha256=function.bundle_sha256,
                    config=function.config,
                    dependencies=function.dependencies,
                    fingerprint=snapshot,
                    description=function.config.description if description is None else description,
                    revision_id=str(uuid.uuid4()),
                    created_at=self.clock(),
                    pinned_dependencies=pinned,
                    layer_hash=None if layer is None else layer.key,
                )
                tx.versions.insert(version)
                tx.functions.set_last_version(function.id, version.number)
                return version, True
        raise PreconditionFailed(
            f"the dependencies of {name!r} changed twice while they were being resolved; publish again"
        )

    def _check_import(self, function: Function, layer: Layer | None) -> None:
        """Import the handler in a throwaway worker (when a runtime is attached); refuse if it fails."""
        if self.import_check is None:
            return
        failure = self.import_check(function, None if layer is None else layer.key)
        if failure is None:
            return
        code = str(failure.get("code"))
        reason = f"{failure.get('type')}: {failure.get('message')}"
        message = f"the handler {function.config.handler!r} does not load: {reason}"
        details = {"type": failure.get("type"), "trace": failure.get("trace", [])}
        if code == HandlerNotFound.code:
            raise HandlerNotFound(message, **details)
        raise FunctionImportFailed(message, **details)

    def _resolve(self, dependencies: tuple[str, ...]) -> tuple[tuple[str, ...], Layer | None]:
        """The pinned set of ``dependencies`` and its (built) layer; no uv call without dependencies."""
        if not dependencies:
            return (), None
        if self.layers is None:
            raise DependencyResolutionFailed(
                "this server cannot install dependencies (no layer builder configured)"
            )
        pinned = self.layers.resolve(dependencies)
        return pinned, self.layers.ensure(pinned)

    def get(self, name: str, number: int) -> Version:
        with self.store.read() as tx:
            return load_version(tx, load_function(tx, name), number)

    def list(self, name: str, after: int | None = None, limit: int | None = None) -> list[Version]:
        with self.store.read() as tx:
            return tx.versions.list(load_function(tx, name).id, after, limit)

    def delete(self, name: str, number: int) -> None:
        """Delete one version, refused while an alias routes to it."""
        with self.store.write() as tx:
            function = load_function(tx, name, lock=True)
            load_version(tx, function, number)
            users = _references(tx, function.id).get(number)
            if users:
                raise VersionInUse(
                    f"version {number} of {name!r} is used by {', '.join(users)}; "
                    "point them at another version (or let the rollout finish) first",
                    aliases=users,
                )
            tx.versions.delete(function.id, [number])
            tx.provisioned.remove(function.id, str(number))
            tx.event_configs.remove(function.id, str(number))
            tx.policies.forget(function.id, str(number))
            tx.announce(name)

    def gc(self, name: str, keep: int, dry_run: bool, blob_grace_seconds: int | None = None) -> GcReport:
        """Delete all but the ``keep`` newest unreferenced versions, then blobs and dependency layers
        nothing uses (a layer: no version of any function, no worker pool on this node; both older than
        the grace, so nothing a publish is building or has just built goes).

        A dry run makes the same changes in a transaction that is rolled back, so it reports exactly
        what a real run would delete.
        """
        if keep < 0:
            raise InvalidInput("keep must be 0 or more")
        grace = self.blob_grace_seconds if blob_grace_seconds is None else blob_grace_seconds
        cutoff = self.clock() - timedelta(seconds=grace)
        try:
            with self.store.write() as tx:
                function = load_function(tx, name, lock=True)
                references = _references(tx, function.id)
                plan = plan_retention(tx.versions.numbers(function.id), keep, references)
                tx.versions.delete(function.id, list(plan.delete))
                for number in plan.delete:
                    tx.provisioned.remove(function.id, str(number))
                    tx.event_configs.remove(function.id, str(number))
                    tx.policies.forget(function.id, str(number))
                unused = tx.bundles.unreferenced_before(cutoff)
                tx.bundles.delete(unused)
                known = tx.bundles.all_shas()
                used_layers = tx.versions.layer_hashes()
                if dry_run:
                    raise _DryRun
                tx.announce(name)
        except _DryRun:
            pass
        orphans = [sha for sha, age in self.blobs.list() if sha not in known and age >= grace]
        doomed = sorted(set(unused) | set(orphans))
        stale_layers = self._stale_layers(used_layers, grace)
        if not dry_run:
            for sha in doomed:
                self.blobs.delete(sha)
            if self.layers is not None:
                for key in stale_layers:
                    self.layers.delete(key)
                self.layers.sweep(grace)
        report = GcReport(name, dry_run, plan.delete, plan.keep, dict(plan.pinned), tuple(doomed))
        return replace(report, deleted_layers=stale_layers)

    def _stale_layers(self, used: set[str], grace: float) -> tuple[str, ...]:
        if self.layers is None:
            return ()
        running = self.layers_in_use()
        stored = self.layers.stored()
        return tuple(sorted(k for k, age in stored if k not in used and k not in running and age >= grace))


def _references(tx: Tx, function_id: int) -> dict[int, list[str]]:
    """Versions something points at: aliases (by name), running rollouts ("rollout of prod"), routes
    and schedules pinned to a version ("route GET /x", "schedule nightly")."""
    found = {number: list(users) for number, users in tx.aliases.references(function_id).items()}
    others = (tx.rollouts.references, tx.routes.references, tx.schedules.references)
    for referenced in others:
        for number, users in referenced(function_id).items():
            found.setdefault(number, []).extend(u for u in users if u not in found.get(number, []))
    return found


class _DryRun(Exception):
    """Raised inside a gc transaction to roll it back after computing the plan."""
