"""Bundles kept in PostgreSQL: shared by nodes, chunked, verified on read, cached on each node."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.store.conftest import FakeClock, code
from tests.store.pg import postgres_schema
from tests.support import free_port, make_zip
from turnout.app import build_services, create_app
from turnout.blobs import FileBlobStore
from turnout.cluster.blobs import PostgresBlobStore
from turnout.errors import BlobCorrupted, BundleNotFound, StoreUnavailable
from turnout.services.functions import DraftChanges
from turnout.settings import Settings
from turnout.store import Store, open_store
from turnout.store.blob_rows import CHUNK_BYTES
from turnout.store.engine import make_engine
from turnout.store.schema import blob_chunks, blobs

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg() -> Iterator[Store]:
    with postgres_schema() as url:
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()


def node(store: Store, tmp_path: Path, name: str, clock: FakeClock | None = None) -> PostgresBlobStore:
    """One node's view: the shared store, and a cache folder of its own."""
    return PostgresBlobStore(store, FileBlobStore(tmp_path / name / "blobs"), clock or FakeClock())


def cached(blob_store: PostgresBlobStore, sha256: str) -> bool:
    return blob_store.cache.exists(sha256)


def chunk_sizes(store: Store, sha256: str) -> list[int]:
    with store.read() as tx:
        query = select(blob_chunks.c.data).where(blob_chunks.c.sha256 == sha256).order_by(blob_chunks.c.seq)
        return [len(piece) for piece in tx.conn.execute(query).scalars()]


def test_a_blob_put_through_one_node_is_read_verified_by_another(pg: Store, tmp_path: Path) -> None:
    one, two = node(pg, tmp_path, "one"), node(pg, tmp_path, "two")
    data = make_zip({"app.py": "x = 1\n"})
    sha = one.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert cached(one, sha) and not cached(two, sha)
    assert two.exists(sha)
    assert two.get(sha) == data
    assert cached(two, sha)
    assert {s for s, _ in two.list()} == {sha}


def test_list_gives_each_blob_its_age_by_the_clock(pg: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    store = node(pg, tmp_path, "one", clock)
    first = store.put(b"first")
    clock.advance(30)
    second = store.put(b"second")
    clock.advance(5)
    assert dict(store.list()) == {first: 35.0, second: 5.0}


def test_putting_the_same_bytes_again_writes_nothing(pg: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    one, two = node(pg, tmp_path, "one", clock), node(pg, tmp_path, "two", clock)
    sha = one.put(b"same bytes")
    clock.advance(60)
    assert two.put(b"same bytes") == sha
    with pg.read() as tx:
        rows = tx.conn.execute(select(blobs)).mappings().all()
    assert [(r["sha256"], r["size"], r["chunks"]) for r in rows] == [(sha, 10, 1)]
    assert dict(one.list()) == {sha: 60.0}  # the first write's time: nothing was rewritten
    assert chunk_sizes(pg, sha) == [10]


def test_a_blob_over_one_mib_is_kept_in_chunks_of_at_most_one_mib(pg: Store, tmp_path: Path) -> None:
    one, two = node(pg, tmp_path, "one"), node(pg, tmp_path, "two")
    data = os.urandom(2 * CHUNK_BYTES + 12345)
    sha = one.put(data)
    assert chunk_sizes(pg, sha) == [CHUNK_BYTES, CHUNK_BYTES, 12345]
    with pg.read() as tx:
        assert tx.conn.execute(select(blobs.c.size, blobs.c.chunks)).one() == (len(data), 3)
    assert two.get(sha) == data


@pytest.mark.parametrize(
    ("size", "sizes"),
    [(0, [0]), (CHUNK_BYTES, [CHUNK_BYTES]), (CHUNK_BYTES + 1, [CHUNK_BYTES, 1])],
)
def test_chunk_boundaries(pg: Store, tmp_path: Path, size: int, sizes: list[int]) -> None:
    one, two = node(pg, tmp_path, "one"), node(pg, tmp_path, "two")
    data = os.urandom(size)
    sha = one.put(data)
    assert chunk_sizes(pg, sha) == sizes
    with pg.read() as tx:
        assert tx.conn.execute(select(blobs.c.size, blobs.c.chunks)).one() == (size, len(sizes))
    assert two.get(sha) == data


def test_an_altered_chunk_is_detected_and_nothing_is_served_or_cached(pg: Store, tmp_path: Path) -> None:
    one, two = node(pg, tmp_path, "one"), node(pg, tmp_path, "two")
    sha = one.put(os.urandom(CHUNK_BYTES + 10))
    with pg.write() as tx:
        tx.conn.execute(
            update(blob_chunks)
            .where(blob_chunks.c.sha256 == sha, blob_chunks.c.seq == 1)
            .values(data=b"tampered!!")
        )
    with pytest.raises(BlobCorrupted) as caught:
        two.get(sha)
    assert caught.value.code == "BlobCorrupted"
    assert "corrupted in the store" in caught.value.message
    assert not cached(two, sha)


def test_a_missing_chunk_is_detected(pg: Store, tmp_path: Path) -> None:
    one, two = node(pg, tmp_path, "one"), node(pg, tmp_path, "two")
    sha = one.put(os.urandom(CHUNK_BYTES + 10))
    with pg.write() as tx:
        tx.conn.execute(blob_chunks.delete().where(blob_chunks.c.sha256 == sha, blob_chunks.c.seq == 0))
    with pytest.raises(BlobCorrupted):
        two.get(sha)


def test_a_corrupted_cached_copy_is_replaced_from_the_store(pg: Store, tmp_path: Path) -> None:
    one = node(pg, tmp_path, "one")
    data = b"good bytes"
    sha = one.put(data)
    path = one.cache.root / sha[:2] / sha
    path.write_bytes(b"bad bytes")
    assert one.get(sha) == data
    assert path.read_bytes() == data


def test_a_cached_blob_is_served_while_postgresql_is_unreachable(pg: Store, tmp_path: Path) -> None:
    one, two = node(pg, tmp_path, "one"), node(pg, tmp_path, "two")
    seen, unseen = one.put(b"read once on node two"), one.put(b"never read on node two")
    assert two.get(seen) == b"read once on node two"  # fills node two's cache

    down = Store(make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"))
    try:
        offline = PostgresBlobStore(down, FileBlobStore(two.cache.root), FakeClock())
        assert offline.get(seen) == b"read once on node two"
        assert offline.exists(seen)
        with pytest.raises(StoreUnavailable) as caught:
            offline.get(unseen)
        assert caught.value.code == "StoreUnavailable"
        assert not cached(offline, unseen)
    finally:
        down.close()


def test_deleting_removes_the_blob_from_the_store_and_the_cache(pg: Store, tmp_path: Path) -> None:
    one, two = node(pg, tmp_path, "one"), node(pg, tmp_path, "two")
    sha = one.put(os.urandom(CHUNK_BYTES + 1))
    one.delete(sha)
    assert not one.exists(sha) and not two.exists(sha)
    assert list(one.list()) == []
    assert chunk_sizes(pg, sha) == []
    with pytest.raises(BundleNotFound):
        two.get(sha)


def test_a_malformed_sha256_is_not_found(pg: Store, tmp_path: Path) -> None:
    with pytest.raises(BundleNotFound, match="not a sha256"):
        node(pg, tmp_path, "one").get("../../etc/passwd")


def test_bundles_kept_only_on_disk_are_copied_into_the_store_once(pg: Store, tmp_path: Path) -> None:
    """Upgrading a single-node PostgreSQL install: its bundles lived in DATA_DIR/blobs only."""
    clock = FakeClock()
    local = FileBlobStore(tmp_path / "old" / "blobs")
    old = build_services(Settings(data_dir=tmp_path / "old"), pg, local, clock)
    sha = old.bundles.upload(make_zip(code(1))).sha256
    lost = old.bundles.upload(make_zip(code(2))).sha256
    local.delete(lost)  # named by the bundles table, held nowhere: reported, not copied
    upgraded = PostgresBlobStore(pg, local, clock)

    assert upgraded.copy_local_bundles() == (sha,)
    assert node(pg, tmp_path, "new").get(sha) == make_zip(code(1))
    assert upgraded.copy_local_bundles() == ()


def test_gc_deletes_unused_blobs_from_the_store_and_keeps_used_ones(pg: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    shared = node(pg, tmp_path, "one", clock)
    services = build_services(Settings(data_dir=tmp_path / "one"), pg, shared, clock)
    used = services.bundles.upload(make_zip(code(1))).sha256
    services.functions.put_draft("thumbs", DraftChanges(bundle_sha256=used, handler="app.handler"), None)
    stray = services.bundles.upload(make_zip(code("stray"))).sha256
    clock.advance(120)

    report = services.versions.gc("thumbs", keep=0, dry_run=False, blob_grace_seconds=60)
    assert report.deleted_blobs == (stray,)
    assert {sha for sha, _ in shared.list()} == {used}
    assert not node(pg, tmp_path, "two").exists(stray)
    assert node(pg, tmp_path, "two").get(used) == make_zip(code(1))


def test_a_node_starting_on_postgresql_copies_in_bundles_only_its_folder_holds(
    pg: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "old")
    old = build_services(settings, pg, FileBlobStore(settings.blob_dir), FakeClock())
    sha = old.bundles.upload(make_zip(code(1))).sha256

    with caplog.at_level(logging.INFO, logger="turnout.cluster.blobs"):
        app = create_app(settings, store=pg)
    assert isinstance(app.state.services.bundles.blobs, PostgresBlobStore)
    assert f"copied 1 bundle(s) from {settings.blob_dir} into the store: {sha}" in caplog.messages
    assert node(pg, tmp_path, "new").get(sha) == make_zip(code(1))


def test_a_node_on_sqlite_keeps_bundles_in_its_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings, store=open_store(f"sqlite:///{tmp_path / 'turnout.db'}"))
    try:
        blobs = app.state.services.bundles.blobs
        assert isinstance(blobs, FileBlobStore) and blobs.root == settings.blob_dir
    finally:
        app.state.services.bundles.store.close()
