"""Window buckets as they cross nodes: their JSON form in ``window_buckets``, and the merge of many nodes'
buckets into the one window a rollout gate judges. Pure: no I/O, no clock.

Counts (invocations, errors by code, cold starts, shadow comparisons) add up exactly. Durations do not:
each bucket keeps at most N samples (a reservoir) of its invocations, so a node that served 2,000 calls in
a second and one that served 20 both send up to 200. Pooling the samples as they are would let the quiet
node speak for far more traffic than it served; each sample is therefore weighted by its bucket's
``invocations / samples`` when merged percentiles are computed (see :func:`weighted_percentile`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from turnout.domain.gates import Window
from turnout.gateway.window import Bucket


def to_json(bucket: Bucket) -> dict[str, Any]:
    """The ``data`` column of one bucket (durations rounded to the microsecond)."""
    return {
        "invocations": bucket.invocations,
        "errors": dict(bucket.errors),
        "cold_starts": bucket.cold_starts,
        "durations": [round(ms, 3) for ms in bucket.durations],
        "compared": bucket.compared,
        "mismatches": bucket.mismatches,
    }


def from_json(second: int, data: Mapping[str, Any]) -> Bucket:
    """A bucket read back from the store; fields a future writer adds are ignored, missing ones are 0."""
    return Bucket(
        second=int(second),
        invocations=int(data.get("invocations", 0)),
        errors=Counter({str(k): int(v) for k, v in dict(data.get("errors", {})).items()}),
        cold_starts=int(data.get("cold_starts", 0)),
        durations=[float(ms) for ms in data.get("durations", [])],
        compared=int(data.get("compared", 0)),
        mismatches=int(data.get("mismatches", 0)),
    )


def fingerprint(bucket: Bucket) -> tuple[int, int]:
    """What changes whenever a bucket does: every observation adds an invocation or a comparison."""
    return bucket.invocations, bucket.compared


def merge(buckets: Iterable[Bucket]) -> Window:
    """One window over buckets of any nodes and seconds: counts summed, percentiles weighted.

    >>> quiet, busy = Bucket(1, invocations=2, durations=[100.0, 100.0]), Bucket(1, 1000, durations=[5.0] * 2)
    >>> merge([quiet, busy]).p50_ms, merge([quiet, busy]).invocations
    (5.0, 1002)
    """
    invocations = cold = 0
    errors: Counter[str] = Counter()
    samples: list[tuple[float, float]] = []
    for b in buckets:
        invocations += b.invocations
        cold += b.cold_starts
        errors.update(b.errors)
        if b.durations:
            weight = max(b.invocations, len(b.durations)) / len(b.durations)
            samples.extend((ms, weight) for ms in b.durations)
    samples.sort()
    return Window(
        invocations=invocations,
        errors=dict(errors),
        p50_ms=weighted_percentile(samples, 0.50),
        p90_ms=weighted_percentile(samples, 0.90),
        p99_ms=weighted_percentile(samples, 0.99),
        cold_starts=cold,
    )


def comparisons(buckets: Iterable[Bucket]) -> tuple[int, int]:
    """(compared, mismatched) mirrored answers over the buckets."""
    compared = mismatched = 0
    for b in buckets:
        compared += b.compared
        mismatched += b.mismatches
    return compared, mismatched


def weighted_percentile(ordered: list[tuple[float, float]], q: float) -> float | None:
    """Nearest-rank percentile of (value, weight) pairs sorted by value: the first value whose cumulative
    weight reaches ``q`` of the total. With equal weights it is the plain nearest-rank percentile.

    >>> weighted_percentile([(float(i), 1.0) for i in range(1, 101)], 0.99)
    99.0
    >>> weighted_percentile([(10.0, 1.0), (500.0, 9.0)], 0.5)
    500.0
    """
    if not ordered:
        return None
    total = sum(weight for _, weight in ordered)
    wanted = q * total
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= wanted - 1e-9 * total:
            return round(value, 3)
    return round(ordered[-1][0], 3)


def observed_span(firsts: Iterable[int], now: float, span_s: float) -> float:
    """Seconds over which a rate is averaged: ``span_s``, or less when traffic began less than ``span_s``
    ago (counting from the earliest bucket of any node), but at least one second.

    >>> observed_span([995], 1000.0, 30.0), observed_span([], 1000.0, 30.0)
    (5.0, 30.0)
    """
    earliest = min(firsts, default=None)
    if earliest is None:
        return span_s
    return min(span_s, max(1.0, now - earliest))
