"""Async invocation configs, pure: retry limits over the server's policy, which destination an ended
event goes to, Lambda's destination record, and validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from turnout.domain.destination import EventConfig, check_config, condition, record
from turnout.domain.retry import Next, RetryPolicy, Status, after_failure
from turnout.errors import InvalidInput, InvalidName

WHEN = datetime(2026, 11, 26, 12, 0, 0, 250_000, tzinfo=UTC)
SUCCESS = Next(Status.SUCCEEDED)
EXHAUSTED = Next(Status.DEAD, reason="RetriesExhausted: failed 3 attempt(s)")
TOO_OLD = Next(Status.DEAD, reason="MaxEventAgeExceeded: no retry within 60 s")
GONE = Next(Status.DEAD, reason="FunctionNotFound: function 'x' does not exist")


def test_limits_replace_the_servers_policy_only_where_set() -> None:
    base = RetryPolicy(max_retries=2, max_age_s=21600.0, base_delay_s=1.0)
    assert EventConfig("prod").policy(base) is base
    tight = EventConfig("prod", max_retries=0, max_age_s=60).policy(base)
    assert (tight.max_retries, tight.max_age_s, tight.base_delay_s) == (0, 60.0, 1.0)
    first = after_failure(tight, 1, WHEN, WHEN)
    assert first.status is Status.DEAD and condition(first) == "RetriesExhausted"  # no retry at all


def test_each_ending_goes_to_its_destination_and_nothing_else_goes_anywhere() -> None:
    config = EventConfig("prod", on_success="audit", on_failure="alerts:live")
    assert config.destination(SUCCESS) == "audit"
    assert config.destination(EXHAUSTED) == config.destination(TOO_OLD) == "alerts:live"
    assert config.destination(GONE) is None  # dead for a reason that is not a failure of the function
    assert config.destination(Next(Status.QUEUED, due_at=WHEN)) is None  # a retry is coming
    assert EventConfig("prod", on_failure="alerts").destination(SUCCESS) is None
    assert [condition(n) for n in (SUCCESS, EXHAUSTED, TOO_OLD, GONE)] == [
        "Success",
        "RetriesExhausted",
        "EventAgeExceeded",
        None,
    ]


def test_the_record_is_lambdas_destination_record() -> None:
    ok = json.loads(
        record(
            request_id="id-1",
            function_arn="arn:aws:lambda:us-east-1:000000000000:function:orders:prod",
            after=SUCCESS,
            attempts=1,
            request_payload='{"order": 7}',
            executed_version="3",
            response=b'{"total": 42}',
            when=WHEN,
        )
    )
    assert ok == {
        "version": "1.0",
        "timestamp": "2026-11-26T12:00:00.250Z",
        "requestContext": {
            "requestId": "id-1",
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:orders:prod",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"order": 7},
        "responseContext": {"statusCode": 200, "executedVersion": "3"},
        "responsePayload": {"total": 42},
    }
    error = {"code": "Function.Unhandled", "type": "ValueError", "message": "bad", "trace": ["  File x\n"]}
    failed = json.loads(
        record(
            request_id="id-2",
            function_arn="arn:x",
            after=EXHAUSTED,
            attempts=3,
            request_payload="[]",
            executed_version=None,
            error=error,
            when=WHEN,
        )
    )
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["requestContext"]["approximateInvokeCount"] == 3
    assert failed["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert failed["responsePayload"] == {
        "errorMessage": "bad",
        "errorType": "ValueError",
        "stackTrace": ["  File x\n"],
    }


def test_bad_configs_are_refused() -> None:
    assert check_config("orders", EventConfig("prod", on_success="audit:2", max_retries=2, max_age_s=60))
    for bad in (
        EventConfig("prod", max_retries=3),
        EventConfig("prod", max_age_s=59),
        EventConfig("prod", max_age_s=21601),
        EventConfig("prod", on_success="orders"),  # itself
        EventConfig("prod", on_failure="orders:prod"),
    ):
        with pytest.raises(InvalidInput):
            check_config("orders", bad)
    with pytest.raises(InvalidName):
        check_config("orders", EventConfig("prod", on_success="bad name"))
    with pytest.raises(InvalidName):
        check_config("orders", EventConfig("no such alias!"))
