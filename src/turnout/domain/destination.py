"""Where an async invocation goes when it is done, and how hard it is retried: the event config.

Lambda's asynchronous invocation config, per function qualifier (``$LATEST``, an alias or a version):
a destination for events that succeeded, one for events that failed for good (retries exhausted or too
old), and limits that replace the server's retry policy for those events. A destination is a Turnout
function (``name`` or ``name:qualifier``): it receives Lambda's destination record as an async event of
its own, put on the queue in the same transaction that settles the original. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from turnout.domain.names import LATEST, check_function_name, parse_qualifier, split_qualified
from turnout.domain.retry import Next, RetryPolicy, Status
from turnout.errors import InvalidInput

MAX_RETRIES = 2  # Lambda's bounds for MaximumRetryAttempts and MaximumEventAgeInSeconds
MIN_AGE_S, MAX_AGE_S = 60, 6 * 3600


@dataclass(frozen=True)
class EventConfig:
    qualifier: str  # "$LATEST", an alias name or a version number
    on_success: str | None = None  # "fn" or "fn:qualifier"
    on_failure: str | None = None
    max_retries: int | None = None  # None: the server's TURNOUT_ASYNC_MAX_RETRIES
    max_age_s: int | None = None  # None: the server's TURNOUT_ASYNC_MAX_AGE_S
    updated_at: datetime | None = None  # as stored

    def policy(self, base: RetryPolicy) -> RetryPolicy:
        """The server's retry policy with this config's limits on top."""
        changes: dict[str, Any] = {}
        if self.max_retries is not None:
            changes["max_retries"] = self.max_retries
        if self.max_age_s is not None:
            changes["max_age_s"] = float(self.max_age_s)
        return replace(base, **changes) if changes else base

    def destination(self, after: Next) -> str | None:
        """Where an event that ended ``after`` goes: on success, on failure for good, else nowhere."""
        if after.status is Status.SUCCEEDED:
            return self.on_success
        if after.status is Status.DEAD and condition(after) is not None:
            return self.on_failure
        return None


def check_config(function: str, config: EventConfig) -> EventConfig:
    """``config`` for ``function`` if it is valid; InvalidInput naming the first problem if not."""
    parse_qualifier(config.qualifier)
    if config.max_retries is not None and not 0 <= config.max_retries <= MAX_RETRIES:
        raise InvalidInput(f"max_retries must be from 0 to {MAX_RETRIES}, got {config.max_retries}")
    if config.max_age_s is not None and not MIN_AGE_S <= config.max_age_s <= MAX_AGE_S:
        raise InvalidInput(f"max_age_s must be from {MIN_AGE_S} to {MAX_AGE_S} s, got {config.max_age_s}")
    for kind, target in (("on_success", config.on_success), ("on_failure", config.on_failure)):
        if target is None:
            continue
        name, qualifier = split_qualified(target)
        check_function_name(name)
        parse_qualifier(qualifier)
        if name == function:
            raise InvalidInput(f"{kind}: a function cannot be its own destination ({target!r})")
    return config


def condition(after: Next) -> str | None:
    """Lambda's ``condition`` of a finished event: Success, RetriesExhausted or EventAgeExceeded (None
    for an event dead for another reason, such as its function being gone: no destination gets it)."""
    if after.status is Status.SUCCEEDED:
        return "Success"
    reason = after.reason or ""
    if reason.startswith("RetriesExhausted"):
        return "RetriesExhausted"
    if reason.startswith("MaxEventAgeExceeded"):
        return "EventAgeExceeded"
    return None


def record(
    *,
    request_id: str,
    function_arn: str,
    after: Next,
    attempts: int,
    request_payload: str,
    executed_version: str | None,
    response: bytes | None = None,
    error: dict[str, Any] | None = None,
    when: datetime,
) -> str:
    """Lambda's destination record (JSON text) for an event that ended ``after``."""
    context: dict[str, Any] = {"statusCode": 200, "executedVersion": executed_version or LATEST}
    payload: Any = None
    if error is not None:
        context["functionError"] = "Unhandled"
        payload = {
            "errorMessage": error.get("message", ""),
            "errorType": error.get("type") or error.get("code"),
            "stackTrace": list(error.get("trace") or []),
        }
    elif response:
        try:
            payload = json.loads(response)
        except ValueError:
            payload = response.decode("utf-8", "replace")
    moment = when.astimezone(UTC)
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "requestContext": {
                "requestId": request_id,
                "functionArn": function_arn,
                "condition": condition(after),
                "approximateInvokeCount": attempts,
            },
            "requestPayload": json.loads(request_payload),
            "responseContext": context,
            "responsePayload": payload,
        }
    )
