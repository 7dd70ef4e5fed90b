"""What happens to an async event after each attempt: retry with backoff, dead-letter, or done.

Pure: no clock, no randomness of its own (the caller passes a uniform draw in [0, 1) for the jitter).

- A failed attempt is retried after ``base_delay_s * 2**(attempt-1)`` seconds (1 s, 2 s, 4 s… by
  default), capped at ``max_delay_s``, with up to ``jitter`` of it added at random so a burst of
  failures does not come back in lockstep.
- At most ``max_retries`` retries (``max_retries + 1`` attempts; Lambda's default of 2 retries), and
  never past ``max_age_s`` since the event was accepted (6 h by default): a retry that would start
  later is not made, the event goes to the dead-letter list with its last error instead.
- A platform throttle (the function is at its concurrency limit) is not an attempt: the event waits
  ``throttle_delay_s`` (with jitter) and tries again, still bounded by the maximum age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"  # waiting for its due time (a first attempt or a retry)
    RUNNING = "running"  # a node holds its lease and is running an attempt
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # in the dead-letter list, with its reason; redrive queues it again


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    max_age_s: float = 6 * 3600.0
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0
    jitter: float = 0.25
    throttle_delay_s: float = 0.2

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.max_age_s <= 0 or self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("max_age_s must be positive and delays not negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction from 0 to 1")

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def backoff(self, attempts: int, draw: float = 0.0) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        delay: float = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, attempts - 1))
        return delay * (1 + self.jitter * draw)


@dataclass(frozen=True)
class Next:
    """The event's next state: its status, when it is due again (queued only), and why (dead only)."""

    status: Status
    due_at: datetime | None = None
    reason: str | None = None


def after_success() -> Next:
    return Next(Status.SUCCEEDED)


def after_failure(
    policy: RetryPolicy, attempts: int, accepted_at: datetime, now: datetime, draw: float = 0.0
) -> Next:
    """After the ``attempts``-th attempt (counting this one) failed."""
    if attempts >= policy.max_attempts:
        return Next(Status.DEAD, reason=f"RetriesExhausted: failed {attempts} attempt(s)")
    due = now + timedelta(seconds=policy.backoff(attempts, draw))
    if due > accepted_at + timedelta(seconds=policy.max_age_s):
        return Next(Status.DEAD, reason=f"MaxEventAgeExceeded: no retry within {policy.max_age_s:g} s")
    return Next(Status.QUEUED, due_at=due)


def after_throttle(policy: RetryPolicy, accepted_at: datetime, now: datetime, draw: float = 0.0) -> Next:
    """The platform refused to start the attempt (Throttled): try later, counting no attempt."""
    due = now + timedelta(seconds=policy.throttle_delay_s * (1 + policy.jitter * draw))
    if due > accepted_at + timedelta(seconds=policy.max_age_s):
        return Next(Status.DEAD, reason=f"MaxEventAgeExceeded: throttled for {policy.max_age_s:g} s")
    return Next(Status.QUEUED, due_at=due)


def too_old(policy: RetryPolicy, accepted_at: datetime, now: datetime) -> bool:
    """An event waited longer than the maximum age before an attempt could start."""
    return now > accepted_at + timedelta(seconds=policy.max_age_s)
