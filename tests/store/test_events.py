"""The async event queue over the store, on SQLite and PostgreSQL: leases, outcomes, dead letters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.store.conftest import Kit
from turnout.domain.retry import Next, Status
from turnout.errors import EventNotFound, InvalidInput, InvalidRequestContent

ANY = 100


def room(n: int = ANY):  # type: ignore[no-untyped-def]
    return lambda function: n


def test_an_enqueued_event_is_stored_queued_and_due_at_once(kit: Kit) -> None:
    queue = kit.services.queue
    event_id = queue.enqueue("thumbs", "prod", b'{"a": 1}')
    event = queue.get(event_id)
    assert (event.function, event.qualifier, event.payload) == ("thumbs", "prod", '{"a": 1}')
    assert event.status is Status.QUEUED and event.attempts == 0 and event.version is None
    assert event.enqueued_at == event.due_at == event.accepted_at == kit.clock()
    assert queue.get(queue.enqueue("thumbs", None, b"")).payload == "{}"
    with pytest.raises(InvalidRequestContent):
        queue.enqueue("thumbs", None, b"{nope")
    with pytest.raises(InvalidRequestContent):
        queue.enqueue("thumbs", None, b"\xff")
    with pytest.raises(EventNotFound):
        queue.get("missing")


def test_a_leased_event_is_not_taken_again_until_its_lease_runs_out(kit: Kit) -> None:
    queue = kit.services.queue
    first, second = queue.enqueue("f", None, b"{}"), queue.enqueue("f", None, b"{}")
    taken = queue.claim("node-a", 10, room(), 10)
    assert {e.id for e in taken} == {first, second}
    assert all(e.status is Status.RUNNING and e.lease_owner == "node-a" for e in taken)
    assert queue.claim("node-b", 10, room(), 10) == []
    kit.clock.advance(5)
    queue.renew("node-a", [first], 10)  # first stays leased till +15 s, second runs out at +10 s
    kit.clock.advance(6)
    again = queue.claim("node-b", 10, room(), 10)
    assert [e.id for e in again] == [second]  # node-a died: at-least-once
    assert queue.settle(second, "node-a", Next(Status.SUCCEEDED)) is False  # node-a lost it
    assert queue.settle(second, "node-b", Next(Status.SUCCEEDED)) is True


def test_claims_respect_each_functions_room_and_the_limit(kit: Kit) -> None:
    queue = kit.services.queue
    for _ in range(3):
        queue.enqueue("busy", None, b"{}")
        queue.enqueue("idle", None, b"{}")
    taken = queue.claim("n", 10, lambda f: 1 if f == "busy" else 2, 10)
    assert sorted(e.function for e in taken) == ["busy", "idle", "idle"]
    assert len(queue.claim("n", 10, room(), 2)) == 2


def test_an_attempt_is_recorded_and_the_first_one_pins_the_version(kit: Kit) -> None:
    queue = kit.services.queue
    event_id = queue.enqueue("f", "prod", b"{}")
    queue.claim("n", 10, room(), 1)
    retry_at = kit.clock() + timedelta(seconds=1)
    attempt = {"attempt": 1, "version": "3", "outcome": "Function.Unhandled", "duration_ms": 1.0}
    error = {"code": "Function.Unhandled", "message": "boom"}
    assert queue.settle(
        event_id, "n", Next(Status.QUEUED, due_at=retry_at), version=3, attempt=attempt, error=error
    )
    event = queue.get(event_id)
    assert event.status is Status.QUEUED and event.version == 3 and event.attempts == 1
    assert event.attempt_log == [attempt] and event.last_error == error and event.lease_owner is None
    assert queue.claim("n", 10, room(), 1) == []  # not due yet
    kit.clock.advance(1)
    [again] = queue.claim("n", 10, room(), 1)
    second = {**attempt, "attempt": 2, "version": "3", "outcome": "Success"}
    queue.settle(event_id, "n", Next(Status.SUCCEEDED), version=4, attempt=second)
    done = queue.get(event_id)
    assert done.status is Status.SUCCEEDED and done.version == 3 and done.attempts == 2  # pin kept
    assert queue.claim("n", 10, room(), 1) == []


def test_dead_events_are_listed_redriven_and_purged(kit: Kit) -> None:
    queue = kit.services.queue
    ids = [queue.enqueue(fn, None, b"{}") for fn in ("a", "a", "b")]
    queue.claim("n", 10, room(), 10)
    for event_id in ids:
        queue.settle(event_id, "n", Next(Status.DEAD, reason="x"), version=1, attempt={"attempt": 1})
    assert {e.id for e in queue.list(Status.DEAD)} == set(ids)
    assert [e.function for e in queue.list(Status.DEAD, "b")] == ["b"]
    assert queue.counts() == {"dead": 3}

    kit.clock.advance(60)
    again = queue.redrive(ids[0])
    assert again.status is Status.QUEUED and again.attempts == 0 and again.version is None
    assert again.accepted_at == kit.clock() and len(again.attempt_log) == 1
    with pytest.raises(InvalidInput):
        queue.redrive(ids[0])  # not dead any more
    with pytest.raises(EventNotFound):
        queue.redrive("missing")
    assert queue.redrive_all("a") == 1
    assert queue.purge(Status.DEAD, "b") == 1
    assert queue.list(Status.DEAD) == []
    assert queue.counts("a") == {"queued": 2}
    with pytest.raises(InvalidInput):
        queue.purge(Status.QUEUED)


def test_release_makes_a_nodes_events_due_again_at_once(kit: Kit) -> None:
    queue = kit.services.queue
    event_id = queue.enqueue("f", None, b"{}")
    queue.claim("a", 60, room(), 1)
    queue.release("a")
    assert queue.get(event_id).status is Status.QUEUED
    assert [e.id for e in queue.claim("b", 60, room(), 1)] == [event_id]


def test_paging(kit: Kit) -> None:
    queue = kit.services.queue
    ids = sorted(queue.enqueue("f", None, b"{}") for _ in range(5))
    page = queue.list(None, "f", limit=2)
    assert [e.id for e in page] == ids[:2]
    assert [e.id for e in queue.list(None, "f", after=page[-1].id, limit=10)] == ids[2:]
    with pytest.raises(InvalidInput):
        queue.list(limit=0)


def test_succeeded_events_expire_after_the_retention_and_nothing_else_does(kit: Kit) -> None:
    queue = kit.services.queue

    def finish(status: Status) -> str:
        event_id = queue.enqueue("f", None, b"{}")
        [event] = [e for e in queue.claim("n", 10, room(), 10) if e.id == event_id]
        queue.settle(event.id, "n", Next(status, reason="x"), version=1, attempt={"attempt": 1})
        return event_id

    old_done, old_dead = finish(Status.SUCCEEDED), finish(Status.DEAD)
    kit.clock.advance(3600)
    recent_done = finish(Status.SUCCEEDED)
    waiting = queue.enqueue("f", None, b"{}")  # due an hour late, say: never expired while queued
    kit.clock.advance(1)
    assert queue.expire(3600) == 1  # only the success that finished more than an hour ago
    assert queue.counts() == {"succeeded": 1, "dead": 1, "queued": 1}
    assert queue.get(recent_done).status is Status.SUCCEEDED
    assert queue.get(old_dead).status is Status.DEAD and queue.get(waiting).status is Status.QUEUED
    with pytest.raises(EventNotFound):
        queue.get(old_done)
    queue.claim("n", 10, room(), 10)  # the waiting event runs ...
    for _ in range(5):
        finish(Status.SUCCEEDED)
    kit.clock.advance(7200)
    assert queue.expire(3600, batch=2) == 6  # in batches of 2, until none is left
    assert queue.counts() == {"dead": 1, "running": 1}  # ... and a running event is never expired
