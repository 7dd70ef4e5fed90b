"""Garbage collection: keep N, never what an alias uses, blobs after their grace, honest dry runs."""

from __future__ import annotations

from sqlalchemy import select

from tests.store.conftest import Kit, code
from turnout.store.schema import bundles

FN = "thumbs"


def _bundle_rows(kit: Kit) -> set[str]:
    with kit.store.read() as tx:
        return set(tx.conn.execute(select(bundles.c.sha256)).scalars())


def _blob_files(kit: Kit) -> set[str]:
    return {sha for sha, _ in kit.blobs.list()}


def _publish_five(kit: Kit) -> dict[int, str]:
    """Versions 1-5, each with its own code; returns version -> bundle sha256."""
    shas = {}
    for n in range(1, 6):
        kit.deploy(FN, code(n))
        shas[n] = kit.publish(FN).bundle_sha256
    kit.clock.advance(10)
    return shas


def test_a_dry_run_reports_exactly_what_the_real_run_then_deletes(kit: Kit) -> None:
    shas = _publish_five(kit)
    kit.alias(FN, "prod", 1)
    stray = kit.upload(code("never deployed"))
    kit.clock.advance(10)
    rows, files = _bundle_rows(kit), _blob_files(kit)

    dry = kit.services.versions.gc(FN, keep=2, dry_run=True, blob_grace_seconds=0)
    assert dry.dry_run
    assert dry.deleted_versions == (2, 3)
    assert dry.kept_versions == (1, 4, 5)
    assert dry.pinned == {1: ("prod",)}
    assert set(dry.deleted_blobs) == {shas[2], shas[3], stray}
    # Nothing was deleted.
    assert [v.number for v in kit.services.versions.list(FN)] == [1, 2, 3, 4, 5]
    assert (_bundle_rows(kit), _blob_files(kit)) == (rows, files)

    real = kit.services.versions.gc(FN, keep=2, dry_run=False, blob_grace_seconds=0)
    assert not real.dry_run
    assert (real.deleted_versions, real.kept_versions, real.pinned, real.deleted_blobs) == (
        dry.deleted_versions,
        dry.kept_versions,
        dry.pinned,
        dry.deleted_blobs,
    )
    assert [v.number for v in kit.services.versions.list(FN)] == [1, 4, 5]
    assert _bundle_rows(kit) == rows - set(dry.deleted_blobs)
    assert _blob_files(kit) == files - set(dry.deleted_blobs)
    for n in (1, 4, 5):
        assert kit.services.bundles.read(shas[n])

    again = kit.services.versions.gc(FN, keep=2, dry_run=False, blob_grace_seconds=0)
    assert (again.deleted_versions, again.deleted_blobs) == ((), ())


def test_versions_an_alias_uses_are_kept_whatever_keep_says(kit: Kit) -> None:
    _publish_five(kit)
    kit.alias(FN, "prod", 2)
    kit.alias(FN, "canary", {"2": 90, "3": 10})
    report = kit.services.versions.gc(FN, keep=0, dry_run=False, blob_grace_seconds=0)
    assert report.deleted_versions == (1, 4, 5)
    assert report.pinned == {2: ("canary", "prod"), 3: ("canary",)}
    assert [v.number for v in kit.services.versions.list(FN)] == [2, 3]
    # Version numbers keep counting after gc.
    kit.deploy(FN, code("next"))
    assert kit.publish(FN).number == 6


def test_a_blob_the_draft_uses_is_kept(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    v1 = kit.publish(FN)
    draft = kit.deploy(FN, code("draft only"))
    kit.clock.advance(10)
    report = kit.services.versions.gc(FN, keep=0, dry_run=False, blob_grace_seconds=0)
    assert report.deleted_versions == (1,)
    assert report.deleted_blobs == (v1.bundle_sha256,)
    assert draft.bundle_sha256 in _bundle_rows(kit)
    assert kit.services.bundles.read(draft.bundle_sha256)
    assert not kit.blob_path(v1.bundle_sha256).exists()
    # The draft is still publishable.
    assert kit.publish(FN).number == 2


def test_unreferenced_blobs_younger_than_the_grace_are_kept(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    young = kit.upload(code("just uploaded"))
    kit.clock.advance(30)
    report = kit.services.versions.gc(FN, keep=1, dry_run=False, blob_grace_seconds=60)
    assert young not in report.deleted_blobs
    assert young in _bundle_rows(kit) and kit.blob_path(young).exists()

    kit.clock.advance(31)
    report = kit.services.versions.gc(FN, keep=1, dry_run=False, blob_grace_seconds=60)
    assert report.deleted_blobs == (young,)
    assert young not in _bundle_rows(kit) and not kit.blob_path(young).exists()


def test_uploading_again_restarts_a_blobs_grace(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    sha = kit.upload(code("reused"))
    kit.clock.advance(100)
    assert kit.upload(code("reused")) == sha
    report = kit.services.versions.gc(FN, keep=1, dry_run=False, blob_grace_seconds=60)
    assert sha not in report.deleted_blobs
    assert kit.services.bundles.read(sha)


def test_blob_files_without_a_bundle_row_are_removed(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    orphan = kit.blobs.put(b"left behind by an upload that crashed before its row was written")
    dry = kit.services.versions.gc(FN, keep=1, dry_run=True, blob_grace_seconds=0)
    assert dry.deleted_blobs == (orphan,)
    assert kit.blob_path(orphan).exists()
    real = kit.services.versions.gc(FN, keep=1, dry_run=False, blob_grace_seconds=0)
    assert real.deleted_blobs == (orphan,)
    assert not kit.blob_path(orphan).exists()
