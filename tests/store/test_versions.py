"""Publishing versions: snapshots, idempotence, immutability, verification, preconditions, concurrency."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.store.conftest import Kit, code
from turnout.errors import BlobCorrupted, Conflict, PreconditionFailed, VersionInUse
from turnout.services.functions import DraftChanges
from turnout.store.schema import functions, versions

FN = "thumbs"


def test_publish_snapshots_the_draft_as_the_next_version(kit: Kit) -> None:
    draft = kit.deploy(FN, code(1), environment={"GREETING": "hi"}, timeout=12, memory=512)
    version, created = kit.services.versions.publish(FN, description="first")
    assert created and version.number == 1
    assert version.bundle_sha256 == draft.bundle_sha256
    assert version.config == draft.config
    assert version.description == "first"
    assert kit.services.functions.get(FN).last_version == 1

    kit.deploy(FN, code(2))
    second, created = kit.services.versions.publish(FN)
    assert created and second.number == 2
    assert [v.number for v in kit.services.versions.list(FN)] == [1, 2]


def test_publishing_an_unchanged_draft_returns_the_same_version(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    first, created = kit.services.versions.publish(FN)
    assert created
    again, created_again = kit.services.versions.publish(FN)
    assert not created_again
    assert again == first
    # A deploy of the very same code and config is no change either.
    kit.deploy(FN, code(1))
    third, created_third = kit.services.versions.publish(FN)
    assert (third.number, created_third) == (1, False)
    assert kit.services.functions.get(FN).last_version == 1
    assert [v.number for v in kit.services.versions.list(FN)] == [1]


BASE = code(1, {"requirements.txt": "requests==2.31.0\n"})
CHANGES: dict[str, Callable[[Kit], object]] = {
    "code": lambda k: k.deploy(FN, code(2, {"requirements.txt": "requests==2.31.0\n"})),
    "requirements.txt": lambda k: k.deploy(FN, code(1, {"requirements.txt": "requests==2.32.3\n"})),
    "handler": lambda k: k.deploy(FN, BASE, handler="app.other"),
    "new env var": lambda k: k.deploy(FN, BASE, environment={"GREETING": "hello", "MODE": "x"}),
    "env var value": lambda k: k.deploy(FN, BASE, environment={"GREETING": "bonjour"}),
    "timeout": lambda k: k.deploy(FN, BASE, timeout=31),
    "memory": lambda k: k.deploy(FN, BASE, memory=1024),
    "description": lambda k: k.deploy(FN, BASE, description="now documented"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_to_the_draft_publishes_a_new_version(kit: Kit, change: str) -> None:
    kit.deploy(FN, BASE, environment={"GREETING": "hello"})
    first = kit.publish(FN)
    CHANGES[change](kit)
    second, created = kit.services.versions.publish(FN)
    assert created, f"a {change} change must make a new version"
    assert second.number == first.number + 1
    assert second.fingerprint != first.fingerprint
    if change == "requirements.txt":
        assert (first.dependencies, second.dependencies) == (("requests==2.31.0",), ("requests==2.32.3",))
    elif change != "code":  # a configuration-only change counts on its own
        assert second.bundle_sha256 == first.bundle_sha256
        assert second.config != first.config


def test_version_numbers_are_never_reused_after_a_delete(kit: Kit) -> None:
    for n in (1, 2, 3):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.services.versions.delete(FN, 3)
    kit.services.versions.delete(FN, 2)
    assert [v.number for v in kit.services.versions.list(FN)] == [1]
    # The draft still holds version 3's code and config: publishing it again is a new number.
    again, created = kit.services.versions.publish(FN)
    assert created and again.number == 4
    kit.deploy(FN, code(5))
    assert kit.publish(FN).number == 5
    assert kit.services.functions.get(FN).last_version == 5


def test_earlier_versions_stay_untouched_when_the_draft_changes(kit: Kit) -> None:
    kit.deploy(FN, code(1), environment={"GREETING": "hi"}, timeout=10)
    v1 = kit.publish(FN)
    v1_bytes = kit.services.bundles.read(v1.bundle_sha256)

    draft = kit.deploy(FN, code(2), environment={"GREETING": "changed"}, timeout=99, memory=2048)
    assert draft.bundle_sha256 != v1.bundle_sha256
    kit.publish(FN)

    assert kit.services.versions.get(FN, 1) == v1
    assert kit.services.versions.get(FN, 1).config.environment == {"GREETING": "hi"}
    assert kit.services.bundles.read(v1.bundle_sha256) == v1_bytes


def test_reading_a_tampered_blob_raises_blob_corrupted(kit: Kit) -> None:
    sha = kit.upload(code(1))
    assert kit.services.bundles.read(sha)
    kit.tamper(sha)
    with pytest.raises(BlobCorrupted) as caught:
        kit.services.bundles.read(sha)
    assert caught.value.code == "BlobCorrupted"
    assert caught.value.details["sha256"] == sha


def test_publish_refuses_a_draft_whose_blob_was_tampered_with(kit: Kit) -> None:
    first = kit.deploy(FN, code(1))
    kit.tamper(first.bundle_sha256)
    with pytest.raises(BlobCorrupted):
        kit.services.versions.publish(FN)
    assert kit.services.versions.list(FN) == []
    assert kit.services.functions.get(FN).last_version == 0

    # With a good version 1 in place, a tampered new draft still writes no version 2.
    kit.deploy(FN, code(2))
    assert kit.publish(FN).number == 1
    bad = kit.deploy(FN, code(3))
    kit.tamper(bad.bundle_sha256)
    with pytest.raises(BlobCorrupted):
        kit.services.versions.publish(FN)
    assert [v.number for v in kit.services.versions.list(FN)] == [1]
    assert kit.services.functions.get(FN).last_version == 1


def test_publish_with_a_wrong_code_sha256_is_refused_and_publishes_nothing(kit: Kit) -> None:
    draft = kit.deploy(FN, code(1))
    other = kit.upload(code("someone else's"))
    with pytest.raises(PreconditionFailed) as caught:
        kit.services.versions.publish(FN, code_sha256=other)
    assert caught.value.details["current_code_sha256"] == draft.bundle_sha256
    assert kit.services.versions.list(FN) == []
    version, created = kit.services.versions.publish(FN, code_sha256=draft.bundle_sha256)
    assert created and version.number == 1


def test_publish_with_a_stale_revision_id_is_refused_and_publishes_nothing(kit: Kit) -> None:
    old = kit.deploy(FN, code(1))
    new = kit.deploy(FN, code(2))
    with pytest.raises(PreconditionFailed):
        kit.services.versions.publish(FN, revision_id=old.revision_id)
    assert kit.services.versions.list(FN) == []
    # An ETag-style quoted revision id is accepted too.
    version, created = kit.services.versions.publish(
        FN, code_sha256=new.bundle_sha256, revision_id=f'"{new.revision_id}"'
    )
    assert created and version.bundle_sha256 == new.bundle_sha256


def test_every_draft_update_changes_the_revision_id(kit: Kit) -> None:
    seen = [kit.deploy(FN, code(1)).revision_id]
    seen.append(kit.deploy(FN, code(2)).revision_id)
    seen.append(kit.deploy(FN, code(2), timeout=5).revision_id)
    seen.append(kit.deploy(FN, code(2), timeout=5, environment={"A": "1"}).revision_id)
    assert len(set(seen)) == len(seen)
    for revision in seen:
        assert str(uuid.UUID(revision)) == revision
    assert kit.services.functions.get(FN).revision_id == seen[-1]
    # Deploying exactly what is there already is no update: the revision id stays.
    assert kit.deploy(FN, code(2), timeout=5, environment={"A": "1"}).revision_id == seen[-1]


def test_a_draft_update_with_a_stale_if_match_is_refused_and_writes_nothing(kit: Kit) -> None:
    old = kit.deploy(FN, code(1))
    current = kit.deploy(FN, code(2), if_match=old.revision_id)
    with pytest.raises(PreconditionFailed):
        kit.deploy(FN, code(3), timeout=77, if_match=old.revision_id)
    assert kit.services.functions.get(FN) == current
    assert kit.deploy(FN, code(3), if_match=f'"{current.revision_id}"').revision_id != current.revision_id
    with pytest.raises(PreconditionFailed):
        kit.deploy("brand-new", code(1), if_match=current.revision_id)
    assert kit.services.functions.list() == [kit.services.functions.get(FN)]


def test_a_version_an_alias_uses_cannot_be_deleted_until_the_alias_moves(kit: Kit) -> None:
    for n in (1, 2):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.alias(FN, "prod", 1)
    kit.alias(FN, "beta", {"1": 50, "2": 50})
    with pytest.raises(VersionInUse) as caught:
        kit.services.versions.delete(FN, 1)
    assert caught.value.details["aliases"] == ["beta", "prod"]
    assert "beta" in caught.value.message and "prod" in caught.value.message
    assert [v.number for v in kit.services.versions.list(FN)] == [1, 2]

    kit.alias(FN, "prod", 2)
    kit.alias(FN, "beta", 2)
    kit.services.versions.delete(FN, 1)
    assert [v.number for v in kit.services.versions.list(FN)] == [2]


def test_a_write_transaction_that_raises_halfway_leaves_nothing(kit: Kit) -> None:
    kit.deploy(FN, code(1))
    before = kit.services.functions.get(FN)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), kit.store.write() as tx:
        tx.functions.set_last_version(before.id, 41)
        tx.conn.execute(
            versions.insert().values(
                function_id=before.id,
                number=41,
                bundle_sha256=before.bundle_sha256,
                config=before.config.to_json(),
                dependencies=[],
                fingerprint="f" * 64,
                description="",
                revision_id=str(uuid.uuid4()),
                created_at=kit.clock(),
            )
        )
        assert tx.versions.get(before.id, 41) is not None  # visible inside the transaction
        raise Boom
    with kit.store.read() as tx:
        assert tx.versions.get(before.id, 41) is None
        assert tx.conn.execute(select(functions.c.last_version)).scalar_one() == 0
    assert kit.services.functions.get(FN) == before
    assert kit.publish(FN).number == 1


def test_a_service_failing_after_its_first_write_leaves_nothing(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.deploy(FN, code(1))

    def fail(self: object, function_id: int, number: int) -> None:
        raise RuntimeError("crash after the version row was written")

    monkeypatch.setattr("turnout.store.functions.FunctionRows.set_last_version", fail)
    with pytest.raises(RuntimeError):
        kit.services.versions.publish(FN)
    monkeypatch.undo()
    assert kit.services.versions.list(FN) == []
    assert kit.publish(FN).number == 1


def _run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads started together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return errors


def test_concurrent_publishes_get_distinct_consecutive_numbers(kit: Kit) -> None:
    kit.deploy(FN, code("base"))
    created: list[tuple[int, str]] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for round_ in range(4):
            value = f"{i}-{round_}"
            try:
                draft = kit.deploy(FN, code("base"), environment={"WRITER": value})
                version, was_created = kit.services.versions.publish(FN, revision_id=draft.revision_id)
            except (PreconditionFailed, Conflict) as exc:
                with lock:
                    refused.append(exc)
                continue
            assert version.config.environment["WRITER"] == value
            if was_created:
                with lock:
                    created.append((version.number, value))

    errors = _run_threads(6, work)
    assert errors == []
    numbers = sorted(n for n, _ in created)
    assert numbers == list(range(1, len(numbers) + 1)), "numbers are distinct and consecutive"
    assert len(created) + len(refused) == 24
    assert created, "some publish must win"
    stored = {v.number: v.config.environment["WRITER"] for v in kit.services.versions.list(FN)}
    assert stored == dict(created)
    assert kit.services.functions.get(FN).last_version == len(numbers)


def test_concurrent_alias_updates_with_if_match_lose_no_update(kit: Kit) -> None:
    for n in (1, 2, 3):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.alias(FN, "prod", 1)
    updates: list[tuple[str, str]] = []  # (revision the writer read, revision it wrote)
    lock = threading.Lock()
    targets: list[dict[str, object]] = [
        {"1": 100},
        {"2": 100},
        {"1": 50, "3": 50},
        {"1": 33.33, "2": 33.33, "3": 33.34},
    ]

    def work(i: int) -> None:
        rng = random.Random(i)
        for _ in range(6):
            current = kit.services.aliases.get(FN, "prod")
            try:
                saved = kit.alias(FN, "prod", rng.choice(targets), if_match=current.revision_id)
            except PreconditionFailed:
                continue
            if saved.revision_id != current.revision_id:  # same target again is no update
                with lock:
                    updates.append((current.revision_id, saved.revision_id))

    errors = _run_threads(6, work)
    assert errors == []
    assert updates, "some update must win"
    # No two accepted updates were based on the same revision: none overwrote another unseen.
    assert len({read for read, _ in updates}) == len(updates)
    history = kit.services.aliases.history(FN, "prod", limit=1000)
    assert len(history) == 1 + len(updates)
    for older, newer in zip(history[1:], history[:-1], strict=True):
        assert newer.before == older.after, "each change starts where the previous one ended"
    assert kit.services.aliases.get(FN, "prod").routing == history[0].after


def test_concurrent_first_deploys_create_the_function_once(kit: Kit) -> None:
    sha = kit.upload(code(1))
    outcomes: list[bool] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            _, created = kit.services.functions.put_draft(
                "racy", DraftChanges(bundle_sha256=sha, handler="app.handler")
            )
        except Conflict:
            return
        with lock:
            outcomes.append(created)

    errors = _run_threads(6, work)
    assert errors == []
    assert outcomes.count(True) == 1
    assert [f.name for f in kit.services.functions.list()] == ["racy"]


def test_a_version_pinned_by_a_route_or_a_schedule_cannot_be_deleted_and_gc_keeps_it(kit: Kit) -> None:
    from turnout.services.schedules import NewSchedule

    for n in (1, 2, 3):
        kit.deploy("pinned", code(n))
        kit.publish("pinned")
    kit.services.routes.add("GET", "/pinned", "pinned", "1")
    kit.services.schedules.add(NewSchedule("pinned-nightly", "rate(1 day)", "pinned", "2"))
    for number, user in ((1, "route GET /pinned"), (2, "schedule pinned-nightly")):
        with pytest.raises(VersionInUse) as refused:
            kit.services.versions.delete("pinned", number)
        assert user in refused.value.message
    report = kit.services.versions.gc("pinned", keep=0, dry_run=False)
    assert set(report.deleted_versions) == {3}
