"""Functions and their drafts: create, update (deploy), describe, list, delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from turnout.build.bundle import Manifest
from turnout.clock import Clock
from turnout.domain.alias import Alias
from turnout.domain.config import FunctionConfig
from turnout.domain.function import Function
from turnout.domain.names import check_function_name
from turnout.errors import BundleNotFound, FunctionNotFound, InvalidInput, PreconditionFailed
from turnout.keyring import Keyring
from turnout.services.changes import ChangeFeed
from turnout.store import Store, Tx


@dataclass(frozen=True)
class DraftChanges:
    """What a deploy changes; ``None`` keeps the draft's current value."""

    bundle_sha256: str | None = None
    handler: str | None = None
    description: str | None = None
    environment: Mapping[str, str] | None = None
    timeout: int | None = None
    memory: int | None = None
    idempotent: bool | None = None
    requires: Mapping[str, str] | None = None  # shared resources and their ranges; {} clears them
    runtime: str | None = None


@dataclass(frozen=True)
class Description:
    function: Function
    version_count: int
    latest_version: int | None
    aliases: tuple[Alias, ...]


def load_function(tx: Tx, name: str, lock: bool = False) -> Function:
    found = tx.functions.get(check_function_name(name), lock=lock)
    if found is None:
        raise FunctionNotFound(f"function {name!r} does not exist", function=name)
    return found


def check_revision(kind: str, expected: str | None, actual: str | None) -> None:
    """Optimistic concurrency: refuse when the caller's revision id is not the current one."""
    if expected is None:
        return
    if expected.strip('"') != actual:
        raise PreconditionFailed(
            f"the {kind} changed since you read it (revision {actual}, you sent {expected.strip(chr(34))}); "
            "read it again and retry",
            current_revision_id=actual,
        )


class FunctionService:
    def __init__(
        self, store: Store, clock: Clock, keyring: Keyring, changes: ChangeFeed | None = None
    ) -> None:
        self.store, self.clock, self.keyring = store, clock, keyring
        self.changes = changes or ChangeFeed()

    def put_draft(
        self, name: str, changes: DraftChanges, if_match: str | None = None
    ) -> tuple[Function, bool]:
        """Create the function or update its draft. Returns (function, created)."""
        check_function_name(name)
        with self.store.write() as tx:
            current = tx.functions.get(name, lock=True)
            if current is None:
                result = self._create(tx, name, changes, if_match), True
            else:
                check_revision("draft", if_match, current.revision_id)
                result = self._update(tx, current, changes), False
            if current is None or result[0].revision_id != current.revision_id:
                tx.announce(name)
        return result

    def _create(self, tx: Tx, name: str, changes: DraftChanges, if_match: str | None) -> Function:
        if if_match is not None:
            raise PreconditionFailed(f"function {name!r} does not exist, so no revision can match")
        if changes.bundle_sha256 is None:
            raise InvalidInput(f"function {name!r} is new: its first deploy needs code (bundle_sha256)")
        if changes.handler is None:
            raise InvalidInput(
                f"function {name!r} is new: its first deploy needs a handler, e.g. app.handler"
            )
        config = FunctionConfig(handler=changes.handler).with_changes(
            description=changes.description,
            environment=self._sealed(changes.environment, {}),
            timeout=changes.timeout,
            memory=changes.memory,
            idempotent=changes.idempotent,
            runtime=changes.runtime,
            requires=changes.requires,
        )
        manifest = _checked_manifest(tx, changes.bundle_sha256, config)
        return tx.functions.insert(
            name, config, manifest.sha256, manifest.dependencies, str(uuid.uuid4()), self.clock()
        )

    def _update(self, tx: Tx, current: Function, changes: DraftChanges) -> Function:
        config = current.config.with_changes(
            handler=changes.handler,
            description=changes.description,
            environment=self._sealed(changes.environment, current.config.environment),
            timeout=changes.timeout,
            memory=changes.memory,
            idempotent=changes.idempotent,
            runtime=changes.runtime,
            requires=changes.requires,
        )
        sha256 = changes.bundle_sha256 or current.bundle_sha256
        manifest = _checked_manifest(tx, sha256, config)
        if config == current.config and sha256 == current.bundle_sha256:
            return current  # nothing changed: the revision id stays, so deploys are idempotent
        revision_id, now = str(uuid.uuid4()), self.clock()
        tx.functions.update_draft(current.id, config, sha256, manifest.dependencies, revision_id, now)
        return load_function(tx, current.name)

    def _sealed(
        self, environment: Mapping[str, str] | None, previous: Mapping[str, str]
    ) -> dict[str, str] | None:
        """The environment to store: checked as sent (names, size), then with its secrets sealed."""
        if environment is None:
            return None
        FunctionConfig(handler="app.handler", environment=environment)  # validates the plain values
        return self.keyring.seal_environment(environment, previous=previous)

    def describe(self, name: str) -> Description:
        """The function with its version count, newest version and aliases, read in one transaction."""
        with self.store.read() as tx:
            function = load_function(tx, name)
            latest = tx.versions.latest(function.id)
            return Description(
                function=function,
                version_count=tx.versions.count(function.id),
                latest_version=None if latest is None else latest.number,
                aliases=tuple(tx.aliases.list(function.id)),
            )

    def get(self, name: str) -> Function:
        with self.store.read() as tx:
            return load_function(tx, name)

    def list(self, after: str | None = None, limit: int = 100) -> list[Function]:
        with self.store.read() as tx:
            return tx.functions.list(after, max(1, min(limit, 1000)))

    def delete(self, name: str) -> None:
        """Delete the function with its versions, aliases and history (blobs go at the next gc)."""
        with self.store.write() as tx:
            tx.functions.delete(load_function(tx, name, lock=True).id)
            tx.announce(name)


def _checked_manifest(tx: Tx, sha256: str, config: FunctionConfig) -> Manifest:
    manifest = tx.bundles.get(sha256)
    if manifest is None:
        raise BundleNotFound(f"no bundle {sha256}: upload it with POST /v1/bundles first", sha256=sha256)
    manifest.check_handler(config.handler)
    return manifest
