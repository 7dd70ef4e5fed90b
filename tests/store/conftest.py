"""Fixtures that run every store and service test on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.store.pg import postgres_schema
from tests.support import HELLO, make_wheelhouse, make_zip
from turnout.app import build_services
from turnout.blobs import FileBlobStore
from turnout.domain.alias import Alias
from turnout.domain.function import Function, Version
from turnout.domain.routing import Routing, routing_from_labels
from turnout.services import Services
from turnout.services.aliases import AliasChanges
from turnout.services.functions import DraftChanges
from turnout.settings import Settings
from turnout.store import Store, open_store


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 1.0) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


def code(n: int | str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Files of a bundle whose content depends on ``n``."""
    return {"app.py": HELLO + f"\nVERSION = {n!r}\n", **(extra or {})}


@dataclass
class Kit:
    """The services over one backend, with helpers that upload and deploy like a client would."""

    store: Store
    services: Services
    blobs: FileBlobStore
    clock: FakeClock

    def upload(self, files: Mapping[str, str | bytes] | None = None) -> str:
        return self.services.bundles.upload(make_zip(files or {"app.py": HELLO})).sha256

    def deploy(
        self,
        name: str,
        files: Mapping[str, str | bytes] | None = None,
        *,
        handler: str = "app.handler",
        if_match: str | None = None,
        **config: object,
    ) -> Function:
        """Upload ``files`` and make them (with ``config``) the draft of ``name``."""
        sha = self.upload(files)
        changes = DraftChanges(bundle_sha256=sha, handler=handler, **config)  # type: ignore[arg-type]
        return self.services.functions.put_draft(name, changes, if_match)[0]

    def publish(self, name: str, **kwargs: object) -> Version:
        return self.services.versions.publish(name, **kwargs)[0]  # type: ignore[arg-type]

    def alias(
        self,
        function: str,
        name: str,
        target: int | None | Mapping[str, object],
        *,
        actor: str = "tester",
        reason: str = "",
        if_match: str | None = None,
        **changes: object,
    ) -> Alias:
        """Point ``name`` at one version (an int, None for $LATEST) or at weights {"3": 70, "4": 30}."""
        routing = (
            routing_from_labels(target) if isinstance(target, Mapping) else Routing.single(target)  # type: ignore[arg-type]
        )
        alias_changes = AliasChanges(routing=routing, **changes)  # type: ignore[arg-type]
        return self.services.aliases.put(function, name, alias_changes, actor, reason, if_match)[0]

    def blob_path(self, sha256: str) -> Path:
        return self.blobs.root / sha256[:2] / sha256

    def tamper(self, sha256: str) -> None:
        self.blob_path(sha256).write_bytes(b"not what was uploaded")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated Store: SQLite in tmp_path, or PostgreSQL in a fresh schema dropped afterwards."""
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'turnout.db'}")
        try:
            yield store
        finally:
            store.close()
        return
    with postgres_schema() as url:
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


@pytest.fixture(scope="session")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny wheels (tests.support.WHEELS) that dependency layers install from, with no index."""
    return make_wheelhouse(tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def settings(tmp_path: Path, wheel_dir: Path) -> Settings:
    return Settings(data_dir=tmp_path, offline=True, wheel_dir=str(wheel_dir))


@pytest.fixture
def services(backend: Store, blobs: FileBlobStore, clock: FakeClock, settings: Settings) -> Services:
    return build_services(settings, backend, blobs, clock)


@pytest.fixture
def kit(backend: Store, services: Services, blobs: FileBlobStore, clock: FakeClock) -> Kit:
    return Kit(backend, services, blobs, clock)
