"""The durable queue of async invocations: enqueue, lease, outcomes, dead letters, redrive (issue 6).

An event is written in one transaction when it is accepted (the caller gets 202 and its request id
only after the commit), so it survives any crash that follows. The dispatcher (``gateway/dispatcher.py``)
leases due events, runs them and records each attempt here; ``turnout.domain.retry`` decides what
happens next.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from turnout.clock import Clock
from turnout.domain.ids import new_request_id
from turnout.domain.json_body import check_json
from turnout.domain.names import check_function_name
from turnout.domain.retry import Next, Status
from turnout.errors import EventNotFound, InvalidInput, InvalidRequestContent
from turnout.services.changes import ChangeFeed
from turnout.store import Store
from turnout.store.events import EventRecord

MAX_LIST = 1000


@dataclass(frozen=True)
class Settlement:
    """How one attempt ended, for :meth:`EventQueue.settle_many`."""

    event_id: str
    after: Next
    version: int | None = None
    attempt: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    follow_up: FollowUp | None = None  # an event for a destination, queued if the settle takes


@dataclass(frozen=True)
class FollowUp:
    """An async event to queue in the same transaction as a settle (a destination's record)."""

    function: str
    qualifier: str | None
    payload: str  # JSON text


class EventQueue:
    def __init__(self, store: Store, clock: Clock, changes: ChangeFeed) -> None:
        self.store, self.clock, self.changes = store, clock, changes
        # told (thread-safe callables) that an event of this function (None: of any) became due now
        self.wake: list[Callable[[str | None], None]] = []

    def __repr__(self) -> str:
        return f"EventQueue({self.store!r})"

    def enqueue(
        self, function: str, qualifier: str | None, payload: bytes, event_id: str | None = None
    ) -> str:
        """Accept an event for ``function[:qualifier]``; returns its request id once it is stored."""
        check_function_name(function)
        text = _json_text(payload)
        event_id = event_id or str(uuid.uuid4())
        with self.store.write() as tx:
            tx.events.insert(event_id, function, qualifier, text, self.clock())
        self._wake(function)
        return event_id

    def get(self, event_id: str) -> EventRecord:
        with self.store.read() as tx:
            found = tx.events.get(event_id)
        if found is None:
            raise EventNotFound(f"no event {event_id!r}", id=event_id)
        return found

    def list(
        self,
        status: Status | None = None,
        function: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[EventRecord]:
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit must be from 1 to {MAX_LIST}")
        with self.store.read() as tx:
            return tx.events.list(status, function, after, limit)

    def counts(self, function: str | None = None) -> dict[str, int]:
        with self.store.read() as tx:
            return tx.events.counts(function)

    def redrive(self, event_id: str) -> EventRecord:
        """Queue one dead event again (attempts, pinned version and age start over)."""
        with self.store.write() as tx:
            found = tx.events.get(event_id)
            if found is None:
                raise EventNotFound(f"no event {event_id!r}", id=event_id)
            if found.status is not Status.DEAD:
                raise InvalidInput(f"event {event_id!r} is {found.status.value}; only dead events redrive")
            tx.events.redrive([event_id], self.clock())
            again = tx.events.get(event_id)
        assert again is not None
        self._wake()
        return again

    def redrive_all(self, function: str | None = None) -> int:
        """Queue every dead event (of ``function``) again; returns how many."""
        total = 0
        while True:
            with self.store.write() as tx:
                batch = [e.id for e in tx.events.list(Status.DEAD, function, None, MAX_LIST)]
                total += tx.events.redrive(batch, self.clock())
            if len(batch) < MAX_LIST:
                break
        if total:
            self._wake()
        return total

    def purge(self, status: Status = Status.DEAD, function: str | None = None) -> int:
        if status not in (Status.DEAD, Status.SUCCEEDED):
            raise InvalidInput("only dead or succeeded events can be purged")
        with self.store.write() as tx:
            return tx.events.purge(status, function)

    def expire(self, retention_s: float, batch: int = 1000) -> int:
        """Delete succeeded events that finished more than ``retention_s`` ago, ``batch`` per transaction
        (each short, so enqueues and claims never wait long behind it). Returns how many went."""
        cutoff = self.clock() - timedelta(seconds=retention_s)
        total = 0
        while True:
            with self.store.write() as tx:
                gone = tx.events.expire(Status.SUCCEEDED, cutoff, batch)
            total += gone
            if gone < batch:
                return total

    # -- the dispatcher's side ---------------------------------------------------------------------

    def claim(
        self, owner: str, lease_s: float, room: Callable[[str], int], limit: int
    ) -> builtins.list[EventRecord]:
        now = self.clock()
        with self.store.write() as tx:
            return tx.events.claim(owner, now + timedelta(seconds=lease_s), now, room, limit)

    def renew(self, owner: str, ids: Sequence[str], lease_s: float) -> None:
        with self.store.write() as tx:
            tx.events.renew(owner, ids, self.clock() + timedelta(seconds=lease_s))

    def settle(
        self,
        event_id: str,
        owner: str,
        after: Next,
        *,
        version: int | None = None,
        attempt: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Record the attempt (if one ran) and move the event to ``after``; False if the lease was lost."""
        with self.store.write() as tx:
            done = tx.events.finish(
                event_id,
                owner,
                status=after.status,
                now=self.clock(),
                due_at=after.due_at,
                version=version,
                attempt=attempt,
                error=error,
            )
        return done

    def settle_many(self, owner: str, items: Sequence[Settlement]) -> builtins.list[bool]:
        """Several :meth:`settle` in one transaction (the dispatcher batches the attempts that ended);
        each settle that takes queues its follow-up event in the same transaction."""
        now = self.clock()
        woken: set[str] = set()
        with self.store.write() as tx:
            done = []
            for item in items:
                took = tx.events.finish(
                    item.event_id,
                    owner,
                    status=item.after.status,
                    now=now,
                    due_at=item.after.due_at,
                    version=item.version,
                    attempt=item.attempt,
                    error=item.error,
                )
                if took and item.follow_up is not None:
                    follow = item.follow_up
                    tx.events.insert(new_request_id(), follow.function, follow.qualifier, follow.payload, now)
                    woken.add(follow.function)
                done.append(took)
        for function in woken:
            self._wake(function)
        return done

    def release(self, owner: str) -> None:
        with self.store.write() as tx:
            tx.events.release(owner, self.clock())

    def _wake(self, function: str | None = None) -> None:
        for wake in self.wake:
            wake(function)


def _json_text(payload: bytes) -> str:
    try:
        text = payload.decode("utf-8") if payload else "{}"
    except ValueError as exc:
        raise InvalidRequestContent(
            f"the request payload is not JSON ({exc}); send a JSON document (an empty body is {{}})"
        ) from exc
    check_json(payload)
    return text
