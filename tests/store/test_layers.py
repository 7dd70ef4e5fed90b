"""Publish resolves requirements.txt into a pinned set and a shared layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert

import turnout.store.store as store_module
from tests.store.conftest import Kit, code
from tests.store.pg import postgres_schema
from turnout.api.views import version_json
from turnout.build.layer import LayerBuilder
from turnout.errors import DependencyResolutionFailed, PreconditionFailed
from turnout.settings import Settings
from turnout.store import Store, open_store
from turnout.store.schema import alias_routes, aliases, bundles, functions, versions

FN = "thumbs"


def reqs(text: str, n: int | str = 1) -> dict[str, str]:
    return code(n, {"requirements.txt": text})


@pytest.fixture
def layers(kit: Kit) -> LayerBuilder:
    builder = kit.services.versions.layers
    assert builder is not None
    return builder


@pytest.fixture
def uv_steps(layers: LayerBuilder, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every uv run publish makes, by step: "resolve" or "install"."""
    steps: list[str] = []
    real = layers._uv

    def recording(step: str, args: list[str]) -> str:
        steps.append(step)
        return real(step, args)

    monkeypatch.setattr(layers, "_uv", recording)
    return steps


def test_publish_records_the_pinned_set_and_builds_the_layer(
    kit: Kit, layers: LayerBuilder, settings: Settings, uv_steps: list[str]
) -> None:
    kit.deploy(FN, reqs("tinydep==1.0\n"))
    version = kit.publish(FN)
    assert version.dependencies == ("tinydep==1.0",)
    assert version.pinned_dependencies == ("tinydep==1.0",)
    assert version.layer_hash == layers.layer_key(("tinydep==1.0",))
    assert uv_steps == ["resolve", "install"]

    layer_dir = settings.layers_dir / version.layer_hash
    assert (layer_dir / "tinydep" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert kit.services.versions.get(FN, 1) == version  # stored, not just returned
    shown = version_json(FN, version)
    assert (shown["pinned_dependencies"], shown["layer"]) == (["tinydep==1.0"], version.layer_hash)


def test_versions_with_the_same_pinned_set_share_one_layer(
    kit: Kit, settings: Settings, uv_steps: list[str]
) -> None:
    kit.deploy(FN, reqs("tinydep==1.0\n", 1))
    first = kit.publish(FN)
    kit.deploy(FN, reqs("tinydep==1.0\n", 2))
    second = kit.publish(FN)
    kit.deploy("other", reqs("tinydep == 1.0  # same set, spelled differently\n", 3))
    third = kit.publish("other")
    assert second.number == 2 and second.bundle_sha256 != first.bundle_sha256
    assert first.layer_hash == second.layer_hash == third.layer_hash
    assert uv_steps == ["resolve", "install", "resolve", "resolve"]  # built once
    assert [p.name for p in settings.layers_dir.iterdir() if not p.name.startswith(".")] == [first.layer_hash]


def test_another_pinned_set_gets_another_layer(kit: Kit, settings: Settings) -> None:
    kit.deploy(FN, reqs("tinydep==1.0\n"))
    one = kit.publish(FN)
    kit.deploy(FN, reqs("tinydep==2.0\n"))
    two = kit.publish(FN)
    assert two.pinned_dependencies == ("tinydep==2.0",)
    assert one.layer_hash != two.layer_hash
    assert two.layer_hash is not None
    init = settings.layers_dir / two.layer_hash / "tinydep" / "__init__.py"
    assert init.read_text() == '__version__ = "2.0"\n'


def test_ranges_resolve_to_pins_and_transitive_dependencies_are_pinned(kit: Kit, settings: Settings) -> None:
    kit.deploy(FN, reqs("tinydep>=1\n"))
    ranged = kit.publish(FN)
    assert ranged.dependencies == ("tinydep>=1",)
    assert ranged.pinned_dependencies == ("tinydep==2.0",)

    kit.deploy(FN, reqs("tinyapp\n"))
    app = kit.publish(FN)
    assert app.pinned_dependencies == ("tinyapp==1.0", "tinydep==2.0")
    assert app.layer_hash is not None
    layer_dir = settings.layers_dir / app.layer_hash
    assert (layer_dir / "tinyapp" / "__init__.py").is_file()
    assert (layer_dir / "tinydep" / "__init__.py").read_text() == '__version__ = "2.0"\n'


@pytest.mark.parametrize("requirement", ["tinydep==9.9", "nosuchpkg"])
def test_an_unresolvable_requirement_fails_publish_and_writes_nothing(
    kit: Kit, settings: Settings, requirement: str
) -> None:
    kit.deploy(FN, reqs("tinydep==1.0\n"))
    kit.publish(FN)
    kit.deploy(FN, reqs(f"{requirement}\n"))
    with pytest.raises(DependencyResolutionFailed) as caught:
        kit.publish(FN)
    assert requirement in caught.value.message
    assert "No solution found" in caught.value.message  # uv's own words
    assert [v.number for v in kit.services.versions.list(FN)] == [1]
    assert kit.services.functions.get(FN).last_version == 1
    assert len([p for p in settings.layers_dir.iterdir() if not p.name.startswith(".")]) == 1


def test_publishing_an_unchanged_draft_does_not_resolve_again(kit: Kit, uv_steps: list[str]) -> None:
    kit.deploy(FN, reqs("tinydep>=1\n"))
    first, created = kit.services.versions.publish(FN)
    assert created and len(uv_steps) == 2
    uv_steps.clear()
    again, created_again = kit.services.versions.publish(FN)
    assert (again, created_again) == (first, False)
    kit.deploy(FN, reqs("tinydep>=1\n"))  # the very same deploy again
    assert kit.services.versions.publish(FN) == (first, False)
    assert uv_steps == []


def test_no_dependencies_means_no_layer_and_no_uv(kit: Kit, uv_steps: list[str], settings: Settings) -> None:
    kit.deploy(FN, code(1))
    version = kit.publish(FN)
    assert (version.pinned_dependencies, version.layer_hash) == ((), None)
    assert version_json(FN, version)["layer"] is None
    assert uv_steps == []
    assert not settings.layers_dir.exists()


def test_a_deleted_layer_is_rebuilt_from_the_recorded_pinned_set(kit: Kit, layers: LayerBuilder) -> None:
    kit.deploy(FN, reqs("tinyapp\n"))
    version = kit.publish(FN)
    assert version.layer_hash is not None
    path = layers.path(version.layer_hash)
    before = {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    for file in sorted(path.rglob("*"), reverse=True):
        file.unlink() if file.is_file() else file.rmdir()
    path.rmdir()

    rebuilt = layers.ensure(kit.services.versions.get(FN, 1).pinned_dependencies)
    assert rebuilt is not None and (rebuilt.key, rebuilt.path) == (version.layer_hash, path)
    assert {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()} == before


def _change_draft_while_resolving(
    kit: Kit, layers: LayerBuilder, monkeypatch: pytest.MonkeyPatch, drafts: list[str]
) -> list[str]:
    """Deploy the next of ``drafts`` (a requirements.txt) each time publish resolves."""
    seen: list[str] = []
    real: Callable[[tuple[str, ...]], tuple[str, ...]] = layers.resolve

    def resolve(requirements: tuple[str, ...]) -> tuple[str, ...]:
        seen.append(requirements[0])
        pinned = real(requirements)
        if drafts:
            kit.deploy(FN, reqs(drafts.pop(0)))
        return pinned

    monkeypatch.setattr(layers, "resolve", resolve)
    return seen


def test_dependencies_changed_while_resolving_are_resolved_again(
    kit: Kit, layers: LayerBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.deploy(FN, reqs("tinydep==1.0\n"))
    seen = _change_draft_while_resolving(kit, layers, monkeypatch, ["tinydep==2.0\n"])
    version = kit.publish(FN)
    assert seen == ["tinydep==1.0", "tinydep==2.0"]
    assert version.dependencies == ("tinydep==2.0",)
    assert version.pinned_dependencies == ("tinydep==2.0",)
    assert version.layer_hash == layers.layer_key(("tinydep==2.0",))


def test_dependencies_that_keep_changing_are_refused(
    kit: Kit, layers: LayerBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.deploy(FN, reqs("tinydep==1.0\n"))
    _change_draft_while_resolving(kit, layers, monkeypatch, ["tinydep==2.0\n", "tinydep>=1\n"])
    with pytest.raises(PreconditionFailed, match="changed"):
        kit.publish(FN)
    assert kit.services.versions.list(FN) == []


def test_a_revision_precondition_holds_across_the_resolution(
    kit: Kit, layers: LayerBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = kit.deploy(FN, reqs("tinydep==1.0\n"))
    _change_draft_while_resolving(kit, layers, monkeypatch, ["tinydep==1.0\n# touched\n"])
    with pytest.raises(PreconditionFailed):
        kit.publish(FN, revision_id=draft.revision_id)
    assert kit.services.versions.list(FN) == []


# -- migration 0002 on a database that already has versions ------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with postgres_schema() as url:
        yield url


def test_migration_0002_gives_existing_versions_an_empty_pinned_set(database_url: str) -> None:
    store = open_store(database_url, migrate=False)
    try:
        config = Config()
        config.set_main_option("script_location", str(Path(store_module.__file__).parent / "migrations"))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
        _old_rows(store)
        store.migrate()
        with store.read() as tx:
            version = tx.versions.get(1, 1)
        assert version is not None
        assert (version.dependencies, version.pinned_dependencies, version.layer_hash) == (
            ("requests==2.31.0",),
            (),
            None,
        )
    finally:
        store.close()
    reopened = open_store(database_url)  # and migrating again is a no-op
    reopened.close()


def _old_rows(store: Store) -> None:
    """A function with one version and an alias routing to it, as 0001 stored them."""
    now = datetime(2024, 1, 1, tzinfo=UTC)
    config = {"handler": "app.handler"}
    sha = "a" * 64
    with store.engine.begin() as conn:
        conn.execute(
            insert(bundles).values(
                sha256=sha, zipped_bytes=1, unpacked_bytes=1, files={}, dependencies=[], uploaded_at=now
            )
        )
        conn.execute(
            insert(functions).values(
                id=1, name=FN, bundle_sha256=sha, config=config, dependencies=["requests==2.31.0"],
                revision_id="r", last_version=1, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(versions).values(
                function_id=1, number=1, bundle_sha256=sha, config=config, dependencies=["requests==2.31.0"],
                fingerprint="f" * 64, description="", revision_id="r", created_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(aliases).values(
                function_id=1, name="prod", description="", settings={}, secret_keys=[], revision_id="r",
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(alias_routes).values(function_id=1, alias_name="prod", version=1, weight_bp=10000)
        )


def test_gc_deletes_layers_nothing_uses_and_keeps_the_rest(kit: Kit, settings: Settings) -> None:
    versions = kit.services.versions
    kit.deploy(FN, reqs("tinydep==1.0\n", 1))
    old = kit.publish(FN)  # v1: tinydep 1.0, no alias: gc may delete it
    kit.deploy(FN, reqs("tinydep==2.0\n", 2))
    kept = kit.publish(FN)  # v2: tinydep 2.0, behind prod
    kit.alias(FN, "prod", 2)
    kit.deploy("other", reqs("tinydep==1.0\n", 3))
    kit.publish("other")  # another function's version shares v1's layer for a while
    assert old.layer_hash is not None and kept.layer_hash is not None
    stray = settings.layers_dir / ".build-dead"
    stray.mkdir()  # a build that died half-way

    report = versions.gc(FN, keep=0, dry_run=True, blob_grace_seconds=0)
    assert report.deleted_versions == (1,) and report.deleted_layers == ()  # "other" still uses it
    kit.services.functions.delete("other")
    report = versions.gc(FN, keep=0, dry_run=True, blob_grace_seconds=0)
    assert report.deleted_layers == (old.layer_hash,)
    assert (settings.layers_dir / old.layer_hash).is_dir()  # a dry run deletes nothing

    versions.layers_in_use = lambda: {old.layer_hash}  # a worker pool of this node still runs it
    assert versions.gc(FN, keep=0, dry_run=False, blob_grace_seconds=0).deleted_layers == ()
    assert (settings.layers_dir / old.layer_hash).is_dir()
    versions.layers_in_use = set

    assert versions.gc(FN, keep=0, dry_run=False, blob_grace_seconds=3600).deleted_layers == ()  # too new
    done = versions.gc(FN, keep=0, dry_run=False, blob_grace_seconds=0)
    assert done.deleted_layers == (old.layer_hash,)
    assert not (settings.layers_dir / old.layer_hash).exists() and not stray.exists()
    assert (settings.layers_dir / kept.layer_hash / "tinydep" / "__init__.py").is_file()
    assert [p.name for p in settings.layers_dir.iterdir() if not p.name.startswith(".")] == [kept.layer_hash]

    kit.deploy(FN, reqs("tinydep==1.0\n", 4))  # the same set again: rebuilt, same key
    again = kit.publish(FN)
    assert again.layer_hash == old.layer_hash and (settings.layers_dir / old.layer_hash).is_dir()
