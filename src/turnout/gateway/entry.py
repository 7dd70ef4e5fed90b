"""The one invocation entry: every way into a function goes through :class:`InvocationEntry`.

The doors — ``POST /v1/functions/{name}/invoke`` (``api/invoke.py``, natively in ``api/protocol.py``),
HTTP routes (``gateway/front_door.py``, natively in the protocol too), function URLs
(``lambda_api/urls.py``), the Lambda ``Invoke`` API (``lambda_api/functions.py``), schedules
(``gateway/scheduler.py``), the async queue (``gateway/dispatcher.py``) and rollout hooks
(``gateway/controller.py``) — only translate their request into an :class:`~turnout.gateway.invoke.Invocation`
and the :class:`Outcome` back into their response shape. What is the same for all of them lives here,
once:

* limits: the request size (a declared ``Content-Length`` is refused before the body is read), the JSON
  check of the event (depth and size, ``domain/json_body.py``), the response size (``Gateway.run``);
* resolving before queueing: an unknown function, alias or version answers 404 at once instead of
  becoming a dead letter;
* queueing an event (``Event`` invocations, queued routes, ``?async=true``) with one request id;
* the count of requests per door and result (``turnout_entry_requests_total`` in ``/metrics``), next to
  the per-version metrics the gateway's observers record;
* the two error shapes the HTTP doors answer with: Turnout's ``{"error": {"code", "message"}}`` for
  platform errors and failed invocations, and API Gateway's ``502 {"message": "Internal Server Error"}``
  (with :func:`http_answer`) for the doors that speak payload format 2.0.

Timeouts and the per-version wait for a free worker are the gateway's and the runtime's (``Gateway.run``,
``Supervisor.invoke``); every door reaches them through here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from enum import StrEnum

from turnout.domain.http_event import HttpResponse, InvalidResponse, could_be_response, to_response
from turnout.domain.ids import new_request_id
from turnout.domain.json_body import check_json
from turnout.errors import RequestTooLarge, TurnoutError
from turnout.gateway.invoke import Gateway, Invocation
from turnout.runtime.supervisor import Outcome, Target
from turnout.services.queue import EventQueue

log = logging.getLogger(__name__)
JSON = "application/json"
FUNCTION_FAILED = b'{"message": "Internal Server Error"}'


class Door(StrEnum):
    """The ways into a function (the ``door`` label of ``turnout_entry_requests_total``)."""

    INVOKE = "invoke"
    ROUTE = "route"
    FUNCTION_URL = "function_url"
    LAMBDA = "lambda"
    SCHEDULE = "schedule"
    QUEUE = "queue"
    HOOK = "hook"


class Result(StrEnum):
    OK = "ok"
    FUNCTION_ERROR = "function_error"  # the function ran and failed (or timed out)
    REFUSED = "refused"  # a platform error before or instead of running: 404, 413, 429...
    QUEUED = "queued"


class InvocationEntry:
    """Runs, checks and queues invocations for every door (see the module's docstring)."""

    def __init__(self, gateway: Gateway, queue: EventQueue) -> None:
        self.gateway = gateway
        self.queue = queue
        self.counts: Counter[tuple[str, str]] = Counter()  # (door, result) -> requests

    def __repr__(self) -> str:
        return f"InvocationEntry({self.gateway!r})"

    @property
    def max_request_bytes(self) -> int:
        return self.gateway.max_request_bytes

    def check_declared(self, content_length: str | None, door: Door) -> None:
        """Refuse (413) a request whose declared ``Content-Length`` is over the limit, before reading it."""
        declared = content_length or ""
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_request_bytes:
            self.counts[door, Result.REFUSED] += 1
            raise RequestTooLarge(
                f"the request payload is {declared} bytes; the limit is {self.max_request_bytes}"
            )

    async def invoke(self, call: Invocation, door: Door, *, built: bool = False) -> tuple[str, Outcome]:
        """Run one invocation: (request id, outcome). Raises :class:`TurnoutError` for platform errors.

        ``built``: the payload is an event the door made itself with ``json.dumps`` (routes, function
        URLs), so only its size is checked, not its JSON."""
        try:
            self._check(call.payload, built)
            target = await self.gateway.resolve(call)
            request_id = new_request_id()
            outcome = await self.gateway.run(target, call.qualifier, call.payload, request_id)
        except TurnoutError:
            self.counts[door, Result.REFUSED] += 1
            raise
        self.counts[door, Result.OK if outcome.error is None else Result.FUNCTION_ERROR] += 1
        return request_id, outcome

    async def run(self, target: Target, qualifier: str | None, payload: bytes, request_id: str) -> Outcome:
        """Run an already resolved target under a given request id (the async queue's attempts keep one)."""
        try:
            outcome = await self.gateway.run(target, qualifier, payload, request_id)
        except TurnoutError:
            self.counts[Door.QUEUE, Result.REFUSED] += 1
            raise
        self.counts[Door.QUEUE, Result.OK if outcome.error is None else Result.FUNCTION_ERROR] += 1
        return outcome

    async def resolve(self, call: Invocation) -> Target:
        """The target a call would run on (Lambda's ``DryRun``); 404 for what is unknown."""
        return await self.gateway.resolve(call)

    async def enqueue(
        self, call: Invocation, door: Door, event_id: str | None = None, *, built: bool = False
    ) -> str:
        """Put the call's event on the durable queue once it is known to resolve; its request id."""
        try:
            self._check(call.payload, built)
            await self.gateway.resolve(call)  # 404 now, not in the dead-letter list
        except TurnoutError:
            self.counts[door, Result.REFUSED] += 1
            raise
        queued = await asyncio.to_thread(
            self.queue.enqueue, call.function, call.qualifier, call.payload, event_id
        )
        self.counts[door, Result.QUEUED] += 1
        return queued

    def refused(self, door: Door) -> None:
        """Count a request a door refused before it reached the entry (a bad token, a bad header...)."""
        self.counts[door, Result.REFUSED] += 1

    def _check(self, payload: bytes, built: bool) -> None:
        if len(payload) > self.max_request_bytes:
            raise RequestTooLarge(
                f"the request payload is {len(payload)} bytes; the limit is {self.max_request_bytes}"
            )
        if not built:
            check_json(payload)


def error_body(error: TurnoutError) -> bytes:
    """Turnout's error shape for a platform error: ``{"error": {"code", "message", "details"?}}``."""
    return json.dumps({"error": error.to_dict()}).encode()


def failure(outcome: Outcome) -> tuple[int, str, bytes]:
    """(status, code, body) of a failed invocation in Turnout's shape: 504 for a timeout, else 502.

    The body is ``{"error": {"code", "type", "message", "trace"}}``."""
    error = outcome.error or {}
    code = outcome.error_code or "Function.Unhandled"
    fields = {k: error.get(k) for k in ("type", "message", "trace")}
    status = 504 if code == "Function.Timeout" else 502
    return status, code, json.dumps({"error": {"code": code, **fields}}).encode()


def http_answer(outcome: Outcome, label: str) -> HttpResponse:
    """The HTTP response a payload format 2.0 door (routes, function URLs) answers for an outcome.

    A failed invocation, or a result that claims to be an HTTP response but is not a valid one, is API
    Gateway's ``502 {"message": "Internal Server Error"}``. A result in which ``statusCode`` cannot be a
    key (:func:`could_be_response`) is the body of a 200 without being parsed: the worker wrote it with
    ``json.dumps``, so it is JSON, as ``/invoke`` trusts it to be."""
    if outcome.error is None:
        if not could_be_response(outcome.payload):  # the common case: no parse, no header checks
            return HttpResponse(200, [("content-type", JSON)], outcome.payload or b"null")
        try:
            return to_response(outcome.payload)
        except InvalidResponse as exc:
            log.warning("%s: the function's answer is not an HTTP response: %s", label, exc)
    return function_failed()


def function_failed() -> HttpResponse:
    return HttpResponse(502, [("content-type", JSON)], FUNCTION_FAILED)


def error_answer(error: TurnoutError, label: str) -> HttpResponse:
    """A platform error as an HTTP response in Turnout's shape (logged when it is the platform's fault)."""
    if error.status >= 500:
        log.error("%s: %s: %s", label, error.code, error.message)
    return HttpResponse(error.status, [("content-type", JSON), *error.headers.items()], error_body(error))
