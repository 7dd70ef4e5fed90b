"""Comparing two snapshots of a function (versions, the draft, or single-version aliases)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from turnout.blobs import BlobStore
from turnout.build.bundle import Manifest, read_file
from turnout.domain.config import FunctionConfig
from turnout.domain.diff import (
    TEXT_DIFF_MAX_BYTES,
    SnapshotDiff,
    diff_config,
    diff_dependencies,
    diff_environment,
    diff_files,
)
from turnout.domain.names import parse_qualifier
from turnout.errors import InvalidInput
from turnout.services.aliases import load_alias
from turnout.services.functions import load_function
from turnout.services.versions import load_version
from turnout.store import Store, Tx


@dataclass(frozen=True)
class _Snapshot:
    label: str
    config: FunctionConfig
    dependencies: tuple[str, ...]
    manifest: Manifest


class DiffService:
    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store, self.blobs = store, blobs

    def diff(self, function_name: str, a: str, b: str) -> SnapshotDiff:
        with self.store.read() as tx:
            before, after = self._snapshot(tx, function_name, a), self._snapshot(tx, function_name, b)
        labels = (before.label, after.label)
        return SnapshotDiff(
            code=diff_files(
                before.manifest.files, after.manifest.files, self._reader(before), self._reader(after), labels
            ),
            config=diff_config(before.config, after.config),
            environment=diff_environment(before.config.environment, after.config.environment),
            dependencies=diff_dependencies(before.dependencies, after.dependencies),
            labels=labels,
        )

    def _reader(self, snapshot: _Snapshot) -> Callable[[str], bytes]:
        """Reads files of the snapshot's bundle; the blob is fetched (and verified) once, on first use."""
        blob: list[bytes] = []

        def read(path: str) -> bytes:
            if not blob:
                blob.append(self.blobs.get(snapshot.manifest.sha256))
            return read_file(blob[0], path, TEXT_DIFF_MAX_BYTES)

        return read

    def _snapshot(self, tx: Tx, function_name: str, qualifier: str) -> _Snapshot:
        function = load_function(tx, function_name)
        parsed = parse_qualifier(qualifier)
        if parsed.alias is not None:
            alias = load_alias(tx, function, parsed.alias)
            if alias.routing.is_split:
                raise InvalidInput(
                    f"alias {parsed.alias!r} splits traffic ({alias.routing.describe()}); name a version"
                )
            parsed = parse_qualifier(alias.routing.routes[0].label)
        if parsed.version is None:
            sha, config, deps = function.bundle_sha256, function.config, function.dependencies
        else:
            version = load_version(tx, function, parsed.version)
            sha, config, deps = version.bundle_sha256, version.config, version.dependencies
        manifest = tx.bundles.get(sha)
        assert manifest is not None, "a bundle row is referenced by a foreign key"
        return _Snapshot(str(parsed), config, deps, manifest)
