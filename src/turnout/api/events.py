"""/v1/events (issue 6): async events, their attempts, the dead-letter list; redrive and purge.

Listing and reading need the ``read`` scope; redrive and purge change state and need ``deploy``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.domain.retry import Status
from turnout.errors import InvalidInput
from turnout.store.events import EventRecord

router = APIRouter(prefix="/v1/events", tags=["events"])
StatusQuery = Annotated[str | None, Query(description="queued, running, succeeded or dead")]
FunctionQuery = Annotated[str | None, Query(description="only this function's events")]


def _status(text: str | None) -> Status | None:
    if text is None:
        return None
    try:
        return Status(text)
    except ValueError:
        raise InvalidInput(f"status is one of {', '.join(s.value for s in Status)}, not {text!r}") from None


def event_json(event: EventRecord, payload: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event.id,
        "function": event.function,
        "qualifier": event.qualifier,
        "version": event.version,
        "status": event.status.value,
        "attempts": event.attempts,
        "attempt_log": event.attempt_log,
        "last_error": event.last_error,
        "enqueued_at": event.enqueued_at.isoformat(),
        "accepted_at": event.accepted_at.isoformat(),
        "due_at": event.due_at.isoformat(),
        "updated_at": event.updated_at.isoformat(),
    }
    if payload:
        body["payload"] = event.payload
    return body


@router.get("", summary="List async events (the dead-letter list with ?status=dead)")
def list_events(
    svc: ServicesDep,
    _: Reader,
    status: StatusQuery = None,
    function: FunctionQuery = None,
    after: Annotated[str | None, Query(description="the last id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = svc.queue.list(_status(status), function, after, limit)
    body: dict[str, Any] = {"events": [event_json(e) for e in found]}
    if len(found) == limit:
        body["next"] = found[-1].id
    return body


@router.get("/{event_id}", summary="One async event: payload, pinned version, attempts, last error")
def get_event(event_id: str, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return event_json(svc.queue.get(event_id), payload=True)


@router.post("/redrive", summary="Queue every dead event (of ?function=) again")
def redrive_all(svc: ServicesDep, _: Deployer, function: FunctionQuery = None) -> dict[str, Any]:
    return {"redriven": svc.queue.redrive_all(function)}


@router.post("/{event_id}/redrive", summary="Queue one dead event again")
def redrive(event_id: str, svc: ServicesDep, _: Deployer) -> dict[str, Any]:
    return event_json(svc.queue.redrive(event_id), payload=True)


@router.delete("", summary="Delete dead (or succeeded) events, of ?function= or all")
def purge(
    svc: ServicesDep, _: Deployer, status: StatusQuery = "dead", function: FunctionQuery = None
) -> dict[str, Any]:
    chosen = _status(status) or Status.DEAD
    return {"purged": svc.queue.purge(chosen, function)}
