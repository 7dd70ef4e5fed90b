"""Publishing immutable versions, reading them, deleting them, and garbage collection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from turnout.blobs import BlobStore
from turnout.clock import Clock
from turnout.domain.config import fingerprint
from turnout.domain.function import Function, Version
from turnout.domain.retention import plan_retention
from turnout.errors import InvalidInput, PreconditionFailed, VersionInUse, VersionNotFound
from turnout.services.functions import check_revision, load_function
from turnout.store import Store, Tx


@dataclass(frozen=True)
class GcReport:
    function: str
    dry_run: bool
    deleted_versions: tuple[int, ...]
    kept_versions: tuple[int, ...]
    pinned: dict[int, tuple[str, ...]]
    deleted_blobs: tuple[str, ...] = field(default=())


def load_version(tx: Tx, function: Function, number: int) -> Version:
    found = tx.versions.get(function.id, number)
    if found is None:
        raise VersionNotFound(
            f"function {function.name!r} has no version {number}", function=function.name, version=number
        )
    return found


class VersionService:
    def __init__(self, store: Store, blobs: BlobStore, clock: Clock, blob_grace_seconds: int) -> None:
        self.store, self.blobs, self.clock = store, blobs, clock
        self.blob_grace_seconds = blob_grace_seconds

    def publish(
        self,
        name: str,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> tuple[Version, bool]:
        """Snapshot the draft as version N+1, or return the newest version if nothing changed.

        Returns (version, created). ``code_sha256``/``revision_id`` are preconditions on the draft.
        """
        if description is not None and len(description) > 256:
            raise InvalidInput("a version description has at most 256 characters")
        with self.store.write() as tx:
            function = load_function(tx, name, lock=True)
            if code_sha256 is not None and code_sha256 != function.bundle_sha256:
                raise PreconditionFailed(
                    f"the draft's code is {function.bundle_sha256}, not {code_sha256}: "
                    "someone deployed other code since you looked",
                    current_code_sha256=function.bundle_sha256,
                )
            check_revision("draft", revision_id, function.revision_id)
            snapshot = fingerprint(function.bundle_sha256, function.config, function.dependencies)
            latest = tx.versions.latest(function.id)
            if latest is not None and latest.fingerprint == snapshot:
                return latest, False
            self.blobs.get(function.bundle_sha256)  # verified read: never publish a damaged bundle
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
            )
            tx.versions.insert(version)
            tx.functions.set_last_version(function.id, version.number)
            return version, True

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
            users = tx.aliases.references(function.id).get(number)
            if users:
                raise VersionInUse(
                    f"version {number} of {name!r} is used by alias(es) {', '.join(users)}; "
                    "point them at another version first",
                    aliases=users,
                )
            tx.versions.delete(function.id, [number])

    def gc(self, name: str, keep: int, dry_run: bool, blob_grace_seconds: int | None = None) -> GcReport:
        """Delete all but the ``keep`` newest unreferenced versions, then blobs nothing uses.

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
                references = tx.aliases.references(function.id)
                plan = plan_retention(tx.versions.numbers(function.id), keep, references)
                tx.versions.delete(function.id, list(plan.delete))
                unused = tx.bundles.unreferenced_before(cutoff)
                tx.bundles.delete(unused)
                known = tx.bundles.all_shas()
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        orphans = [sha for sha, age in self.blobs.list() if sha not in known and age >= grace]
        doomed = sorted(set(unused) | set(orphans))
        if not dry_run:
            for sha in doomed:
                self.blobs.delete(sha)
        return GcReport(name, dry_run, plan.delete, plan.keep, dict(plan.pinned), tuple(doomed))


class _DryRun(Exception):
    """Raised inside a gc transaction to roll it back after computing the plan."""
