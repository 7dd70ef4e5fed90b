"""Health gates: per-version metrics windows, the checks a rollout step must pass, and the test behind them.

A :class:`Window` is plain data: one version's invocations, errors by code and a few latency percentiles
over a sliding window; :class:`Metrics` pairs the baseline's and the candidate's windows over the same span.
Every gate answers :class:`Verdict` ``pass``, ``fail`` or ``pending``:

- ``pending`` while the candidate has fewer than ``min_invocations`` in the window (too few to judge);
- ``pass`` when the observed figure is within the limit;
- ``fail`` when it is outside the limit *and*, for error rates, a one-sided test at ``alpha`` says the
  difference is not noise;
- ``pending`` when an error rate looks worse but is not yet significant: noise on a small sample neither
  promotes nor rolls back, the step holds while the window fills.

Latency gates have no test (a window carries percentiles, not a distribution): the minimum sample is their
only guard, so keep ``min_invocations`` at 100 or more for a p99 to mean something. Relative gates need
``min_invocations`` on the baseline too.

**Absolute error rate** (``max_error_rate``): exact one-sided binomial test of H0 "rate <= limit",
p = P(X >= k) for X ~ Binomial(n, limit) = sum over i = k..n of C(n, i) limit^i (1 - limit)^(n - i).
Worked: 4 errors in 100 invocations against a 1% limit: p = 0.0184 > alpha 0.01, so ``pending``, not
``fail``; 12 in 100 against 5%: p = 0.0043, ``fail``.

**Relative error rate** (``max_error_rate_increase``, a margin in rate points): one-sided two-proportion
z-test of H0 "candidate <= baseline + margin", with the Agresti-Caffo adjustment (one error and one success
added to each side, so zero counts and small samples behave):

    p~ = (errors + 1) / (n + 2)                  for each side
    z  = (p~c - p~b - margin) / sqrt(p~c (1 - p~c) / (nc + 2) + p~b (1 - p~b) / (nb + 2))
    p  = P(Z >= z) = erfc(z / sqrt 2) / 2

Worked: baseline 1% and candidate 20% on 200 invocations each, margin 0: p~b = 3/202 = 0.0149,
p~c = 41/202 = 0.2030, z = 0.1881 / 0.02955 = 6.37, p = 9.7e-11 < 0.01: ``fail``. Baseline 1% and
candidate 1.2% on 50 each: z = 0.058, p = 0.48: not significant, so it never rolls back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from turnout.errors import InvalidInput

Figures = dict[str, float]


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"


@dataclass(frozen=True)
class Check:
    """The result of a check run outside the domain (a hook, a custom gate), handed to ``decide()``."""

    verdict: Verdict
    message: str = ""


@dataclass(frozen=True)
class Window:
    """One version's figures over one sliding window. Latencies in milliseconds, ``None`` when unknown."""

    invocations: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    cold_starts: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        """Errors per invocation; 0 for an empty window.

        >>> Window(200, {"Function.Timeout": 3, "Function.Crashed": 1}).error_rate
        0.02
        """
        return self.error_count / self.invocations if self.invocations else 0.0

    def figures(self, prefix: str) -> Figures:
        found: Figures = {f"{prefix}.invocations": self.invocations, f"{prefix}.error_rate": self.error_rate}
        if self.p99_ms is not None:
            found[f"{prefix}.p99_ms"] = self.p99_ms
        return found


@dataclass(frozen=True)
class Metrics:
    """What the controller observed this tick: both windows over one span, and the custom gate's result."""

    baseline: Window = field(default_factory=Window)
    candidate: Window = field(default_factory=Window)
    custom: Check | None = None
    shadow: Window = field(default_factory=Window)  # the candidate's mirrored calls (answers discarded)
    compared: int = 0  # mirrored calls whose output was compared with the baseline's answer
    mismatches: int = 0  # ... and differed from it


@dataclass(frozen=True)
class Gates:
    """The limits a step must stay within. ``None`` turns a gate off.

        ``max_error_rate_increase`` is in rate points (0.01: at most one point worse than the baseline);
        ``max_p99_ratio`` is a factor (1.5: the candidate's p99 at most 1.5 times the baseline's), except that
    a p99 within ``min_p99_increase_ms`` of the baseline's always passes.
    """

    max_error_rate: float | None = None
    max_p99_ms: float | None = None
    max_error_rate_increase: float | None = None
    max_p99_ratio: float | None = None
    min_invocations: int = 100
    alpha: float = 0.01
    custom: str | None = None
    max_mismatch_rate: float | None = None  # shadow phase, when outputs are compared
    # the relative p99 gate ignores differences smaller than this: sub-millisecond p99s jitter by
    # several times between processes, which is noise, not a regression
    min_p99_increase_ms: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_error_rate", "max_error_rate_increase", "max_mismatch_rate"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise InvalidInput(f"{name} is a rate from 0 to below 1, not {value}")
        if self.min_p99_increase_ms < 0:
            raise InvalidInput(f"min_p99_increase_ms cannot be negative, not {self.min_p99_increase_ms}")
        for name in ("max_p99_ms", "max_p99_ratio"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InvalidInput(f"{name} must be more than 0, not {value}")
        if self.min_invocations < 1:
            raise InvalidInput(f"min_invocations must be at least 1, not {self.min_invocations}")
        if not 0 < self.alpha < 0.5:
            raise InvalidInput(f"alpha is a significance level between 0 and 0.5, not {self.alpha}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Gates:
        return cls(**data)


@dataclass(frozen=True)
class GateResult:
    gate: str
    verdict: Verdict
    reason: str
    figures: Figures = field(default_factory=dict)


def evaluate(gates: Gates, metrics: Metrics, *, relative: bool = True) -> tuple[GateResult, ...]:
    """Judge every gate that is on. ``relative=False`` skips the gates against the baseline (used when the
    step sends the baseline no traffic, so there is nothing to compare with).

    >>> gates = Gates(max_error_rate=0.05, min_invocations=100)
    >>> [r.verdict.value for r in evaluate(gates, Metrics(candidate=Window(40, {"E": 30})))]
    ['pending']
    >>> [r.verdict.value for r in evaluate(gates, Metrics(candidate=Window(100, {"E": 12})))]
    ['fail']
    """
    results: list[GateResult] = []
    cand, base = metrics.candidate, metrics.baseline
    if gates.max_error_rate is not None:
        results.append(_error_rate(gates, cand, gates.max_error_rate))
    if gates.max_p99_ms is not None:
        results.append(_p99(gates, cand, gates.max_p99_ms))
    if relative and gates.max_error_rate_increase is not None:
        results.append(_relative_error_rate(gates, cand, base, gates.max_error_rate_increase))
    if relative and gates.max_p99_ratio is not None:
        results.append(_relative_p99(gates, cand, base, gates.max_p99_ratio))
    if gates.custom is not None:
        results.append(_custom(gates.custom, metrics.custom))
    return tuple(results)


def evaluate_shadow(gates: Gates, metrics: Metrics) -> tuple[GateResult, ...]:
    """Judge the shadow phase: the candidate's mirrored calls stand in for its traffic (against the
    baseline's live window), and, when outputs are compared, the share that differed from the baseline's.

    >>> gates = Gates(max_mismatch_rate=0.0, min_invocations=20)
    >>> [r.verdict.value for r in evaluate_shadow(gates, Metrics(compared=20, mismatches=3))]
    ['fail']
    """
    mirrored = Metrics(metrics.baseline, metrics.shadow, metrics.custom)
    results = [r for r in evaluate(gates, mirrored) if not r.gate.startswith("custom:")]
    if gates.max_mismatch_rate is not None:
        compared = Window(metrics.compared, {"mismatch": metrics.mismatches})
        too_few = _too_few("output_mismatch", gates, compared, "shadow")
        if too_few is None:
            limit = gates.max_mismatch_rate
            p_value = binomial_tail(metrics.mismatches, metrics.compared, limit)
            results.append(_judge_rate("output_mismatch", gates, compared.error_rate, limit, p_value))
        else:
            results.append(too_few)
    return tuple(results)


def overall(results: Iterable[GateResult]) -> Verdict:
    """``fail`` if any gate fails, else ``pending`` if any cannot judge yet, else ``pass``.

    >>> overall([GateResult("a", Verdict.PASS, ""), GateResult("b", Verdict.PENDING, "")]).value
    'pending'
    """
    verdicts = {r.verdict for r in results}
    for verdict in (Verdict.FAIL, Verdict.PENDING):
        if verdict in verdicts:
            return verdict
    return Verdict.PASS


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the exact one-sided p-value of k errors in n at a limit p.

    Summed in log space from ``k`` upwards, stopping once the terms no longer count.

    >>> round(binomial_tail(4, 100, 0.01), 4), round(binomial_tail(12, 100, 0.05), 4)
    (0.0184, 0.0043)
    """
    if k <= 0 or p >= 1:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
        total += term
        if i > n * p and term <= total * 1e-17:
            break
    return min(total, 1.0)


def increase_p_value(
    candidate_rate: float, candidate_n: float, baseline_rate: float, baseline_n: float, margin: float = 0.0
) -> float:
    """One-sided p-value that the candidate's rate exceeds the baseline's by more than ``margin``
    (Agresti-Caffo adjusted two-proportion z-test; the formula is in the module docstring).

    >>> round(increase_p_value(0.012, 50, 0.01, 50), 2)
    0.48
    >>> increase_p_value(0.20, 200, 0.01, 200) < 1e-9
    True
    """
    pc = (candidate_rate * candidate_n + 1) / (candidate_n + 2)
    pb = (baseline_rate * baseline_n + 1) / (baseline_n + 2)
    se = math.sqrt(pc * (1 - pc) / (candidate_n + 2) + pb * (1 - pb) / (baseline_n + 2))
    z = (pc - pb - margin) / se
    return math.erfc(z / math.sqrt(2)) / 2


def _too_few(gate: str, gates: Gates, window: Window, side: str) -> GateResult | None:
    if window.invocations >= gates.min_invocations:
        return None
    reason = f"{gate}: {side} has {window.invocations}/{gates.min_invocations} invocations, too few to judge"
    return GateResult(gate, Verdict.PENDING, reason, {f"{gate}.{side}_invocations": window.invocations})


def _judge_rate(gate: str, gates: Gates, observed: float, limit: float, p_value: float) -> GateResult:
    figures = {f"{gate}.observed": observed, f"{gate}.limit": limit, f"{gate}.p_value": p_value}
    if observed <= limit:
        return GateResult(gate, Verdict.PASS, f"{gate}: {observed:.2%} within {limit:.2%}", figures)
    verdict = Verdict.FAIL if p_value < gates.alpha else Verdict.PENDING
    judged = "significant" if verdict is Verdict.FAIL else "not yet significant"
    reason = f"{gate}: {observed:.2%} above {limit:.2%} (p={p_value:.2g}, {judged} at alpha {gates.alpha:g})"
    return GateResult(gate, verdict, reason, figures)


def _error_rate(gates: Gates, cand: Window, limit: float) -> GateResult:
    too_few = _too_few("error_rate", gates, cand, "candidate")
    if too_few is not None:
        return too_few
    p_value = binomial_tail(cand.error_count, cand.invocations, limit)
    return _judge_rate("error_rate", gates, cand.error_rate, limit, p_value)


def _relative_error_rate(gates: Gates, cand: Window, base: Window, margin: float) -> GateResult:
    gate = "relative_error_rate"
    too_few = _too_few(gate, gates, cand, "candidate") or _too_few(gate, gates, base, "baseline")
    if too_few is not None:
        return too_few
    p = increase_p_value(cand.error_rate, cand.invocations, base.error_rate, base.invocations, margin)
    return _judge_rate(gate, gates, cand.error_rate, base.error_rate + margin, p)


def _judge_latency(gate: str, observed: float | None, limit: float) -> GateResult:
    if observed is None:
        return GateResult(gate, Verdict.PENDING, f"{gate}: no p99 reported yet")
    figures = {f"{gate}.observed_ms": observed, f"{gate}.limit_ms": limit}
    if observed <= limit:
        return GateResult(gate, Verdict.PASS, f"{gate}: p99 {observed:g} ms within {limit:g} ms", figures)
    return GateResult(gate, Verdict.FAIL, f"{gate}: p99 {observed:g} ms above {limit:g} ms", figures)


def _p99(gates: Gates, cand: Window, limit: float) -> GateResult:
    return _too_few("p99", gates, cand, "candidate") or _judge_latency("p99", cand.p99_ms, limit)


def _relative_p99(gates: Gates, cand: Window, base: Window, ratio: float) -> GateResult:
    gate = "relative_p99"
    too_few = _too_few(gate, gates, cand, "candidate") or _too_few(gate, gates, base, "baseline")
    if too_few is not None:
        return too_few
    if base.p99_ms is None:
        return GateResult(gate, Verdict.PENDING, f"{gate}: the baseline reported no p99 yet")
    return _judge_latency(
        gate, cand.p99_ms, max(base.p99_ms * ratio, base.p99_ms + gates.min_p99_increase_ms)
    )


def _custom(name: str, check: Check | None) -> GateResult:
    gate = f"custom:{name}"
    if check is None or check.verdict is Verdict.PENDING:
        return GateResult(gate, Verdict.PENDING, f"{gate}: no result yet")
    detail = f": {check.message}" if check.message else ""
    return GateResult(gate, check.verdict, f"{gate} {check.verdict.value}ed{detail}")
