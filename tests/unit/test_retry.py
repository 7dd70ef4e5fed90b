"""The async retry policy: backoff schedule, attempt and age limits, throttles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from turnout.domain.retry import (
    RetryPolicy,
    Status,
    after_failure,
    after_success,
    after_throttle,
    too_old,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def test_the_backoff_doubles_from_the_base_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=5.0, jitter=0.25)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.backoff(2, draw=1.0) == 2.5  # jitter adds up to a quarter
    assert policy.backoff(2, draw=0.5) == 2.25


def test_defaults_are_two_retries_and_six_hours() -> None:
    policy = RetryPolicy()
    assert policy.max_retries == 2 and policy.max_attempts == 3 and policy.max_age_s == 6 * 3600


def test_a_failure_is_retried_after_the_backoff_until_the_attempts_run_out() -> None:
    policy = RetryPolicy(jitter=0)
    first = after_failure(policy, 1, T0, T0)
    assert first.status is Status.QUEUED and first.due_at == T0 + timedelta(seconds=1)
    second = after_failure(policy, 2, T0, T0 + timedelta(seconds=5))
    assert second.status is Status.QUEUED and second.due_at == T0 + timedelta(seconds=7)
    third = after_failure(policy, 3, T0, T0 + timedelta(seconds=10))
    assert third.status is Status.DEAD and third.due_at is None
    assert third.reason is not None and third.reason.startswith("RetriesExhausted")


def test_no_retries_means_one_attempt() -> None:
    assert after_failure(RetryPolicy(max_retries=0), 1, T0, T0).status is Status.DEAD


def test_a_retry_that_would_start_past_the_maximum_age_is_not_made() -> None:
    policy = RetryPolicy(max_age_s=60, base_delay_s=10, jitter=0)
    assert after_failure(policy, 1, T0, T0 + timedelta(seconds=49)).status is Status.QUEUED
    late = after_failure(policy, 1, T0, T0 + timedelta(seconds=51))
    assert late.status is Status.DEAD and late.reason is not None
    assert late.reason.startswith("MaxEventAgeExceeded")


def test_a_throttle_waits_without_counting_an_attempt_but_not_forever() -> None:
    policy = RetryPolicy(max_age_s=60, throttle_delay_s=0.5, jitter=0)
    wait = after_throttle(policy, T0, T0 + timedelta(seconds=10))
    assert wait.status is Status.QUEUED and wait.due_at == T0 + timedelta(seconds=10.5)
    assert after_throttle(policy, T0, T0 + timedelta(seconds=59.9)).status is Status.DEAD


def test_success_and_age() -> None:
    assert after_success().status is Status.SUCCEEDED
    policy = RetryPolicy(max_age_s=10)
    assert not too_old(policy, T0, T0 + timedelta(seconds=10))
    assert too_old(policy, T0, T0 + timedelta(seconds=11))


@pytest.mark.parametrize("bad", [{"max_retries": -1}, {"max_age_s": 0}, {"base_delay_s": -1}, {"jitter": 2}])
def test_nonsense_policies_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]
