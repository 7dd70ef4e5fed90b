"""Rollout strategies: how a candidate's share of an alias's traffic grows, as steps of weight and bake time.

Weights are basis points of traffic sent to the candidate; they grow strictly (so routing keys already on
the candidate stay there, see ``pick``) and the last step is always 100%. Bake times are seconds.

========================  ==============================================================
``all-at-once``           100% at once, no bake
``canary``                one step, a bake, then 100%
``linear``                ``step`` more every ``interval`` until 100%
``steps``                 explicit (weight, bake) steps; a final 100% step is added if missing
``blue-green``            one 100% step with a bake; the controller warms the candidate first and keeps
                          the baseline warm through the bake so switching back is instant
========================  ==============================================================

The CodeDeploy Lambda deployment configurations work as presets (:data:`PRESETS`, and any name of the same
shape, such as ``Canary25Percent20Minutes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from turnout.domain.routing import BASIS_POINTS
from turnout.errors import InvalidStrategy


class Kind(StrEnum):
    ALL_AT_ONCE = "all-at-once"
    CANARY = "canary"
    LINEAR = "linear"
    STEPS = "steps"
    BLUE_GREEN = "blue-green"


@dataclass(frozen=True)
class Step:
    """The candidate's share of traffic, in basis points, and how long it bakes there, in seconds."""

    weight_bp: int
    bake_s: int

    def __repr__(self) -> str:
        return f"Step({self.weight_bp / 100:g}%, {self.bake_s}s)"


@dataclass(frozen=True)
class Strategy:
    """A plan of steps with strictly growing weights (keys stay sticky) ending at 100%.

    ``blue_green``: the controller warms the candidate to the baseline's worker count before the switch and
    keeps the baseline warm through the bake, so a switch back is instant.
    """

    kind: Kind
    steps: tuple[Step, ...]
    name: str = ""

    def __post_init__(self) -> None:
        weights = [s.weight_bp for s in self.steps]
        if not weights or weights[-1] != BASIS_POINTS:
            raise InvalidStrategy("a strategy's last step sends the candidate 100%")
        if any(not 0 < w <= BASIS_POINTS for w in weights) or weights != sorted(set(weights)):
            raise InvalidStrategy("step weights must grow strictly, each above 0% and at most 100%")
        if any(s.bake_s < 0 for s in self.steps):
            raise InvalidStrategy("a bake time cannot be negative")

    @property
    def blue_green(self) -> bool:
        return self.kind is Kind.BLUE_GREEN

    def to_json(self) -> dict[str, Any]:
        steps = [{"weight_bp": s.weight_bp, "bake_s": s.bake_s} for s in self.steps]
        return {"kind": self.kind.value, "name": self.name, "steps": steps}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Strategy:
        steps = tuple(Step(int(s["weight_bp"]), int(s["bake_s"])) for s in data["steps"])
        return cls(Kind(data["kind"]), steps, data.get("name", ""))


def all_at_once() -> Strategy:
    """Everything to the candidate in one step, no bake.

    >>> all_at_once().steps
    (Step(100%, 0s),)
    """
    return Strategy(Kind.ALL_AT_ONCE, (Step(BASIS_POINTS, 0),), "AllAtOnce")


def canary(weight_bp: int, bake_s: int) -> Strategy:
    """One step, a bake, then 100%.

    >>> canary(1000, 300).steps
    (Step(10%, 300s), Step(100%, 0s))
    """
    if not 0 < weight_bp < BASIS_POINTS:
        raise InvalidStrategy("a canary's weight is above 0% and below 100%")
    return Strategy(Kind.CANARY, (Step(weight_bp, bake_s), Step(BASIS_POINTS, 0)))


def linear(step_bp: int, every_s: int) -> Strategy:
    """``step_bp`` more every ``every_s`` seconds until 100%.

    >>> linear(3000, 60).steps
    (Step(30%, 60s), Step(60%, 60s), Step(90%, 60s), Step(100%, 0s))
    """
    if not 0 < step_bp < BASIS_POINTS:
        raise InvalidStrategy("a linear step is above 0% and below 100%")
    weights = range(step_bp, BASIS_POINTS, step_bp)
    return Strategy(Kind.LINEAR, (*(Step(w, every_s) for w in weights), Step(BASIS_POINTS, 0)))


def explicit(steps: Iterable[tuple[int, int]]) -> Strategy:
    """Given (weight in bp, bake in s) steps; a final 100% step with no bake is added when missing.

    >>> explicit([(500, 60), (5000, 600)]).steps
    (Step(5%, 60s), Step(50%, 600s), Step(100%, 0s))
    """
    planned = tuple(Step(w, s) for w, s in steps)
    if not planned or planned[-1].weight_bp != BASIS_POINTS:
        planned += (Step(BASIS_POINTS, 0),)
    return Strategy(Kind.STEPS, planned)


def blue_green(bake_s: int) -> Strategy:
    """Warm the candidate, switch everything at once, keep the baseline warm for ``bake_s``.

    >>> blue_green(900).steps, blue_green(900).blue_green
    ((Step(100%, 900s),), True)
    """
    return Strategy(Kind.BLUE_GREEN, (Step(BASIS_POINTS, bake_s),))


PRESETS = (
    "AllAtOnce",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
)
_PRESET = re.compile(
    r"(?:CodeDeployDefault\.)?(?:Lambda)?"
    r"(?:(?P<all>AllAtOnce)|Canary(?P<canary>\d+)Percent(?P<bake>\d+)Minutes?"
    r"|Linear(?P<linear>\d+)PercentEvery(?P<every>\d+)Minutes?)"
)


def preset(name: str) -> Strategy:
    """A CodeDeploy deployment configuration by name (a ``CodeDeployDefault.Lambda`` prefix is fine).

    >>> preset("Canary10Percent5Minutes").steps
    (Step(10%, 300s), Step(100%, 0s))
    >>> len(preset("CodeDeployDefault.LambdaLinear10PercentEvery1Minute").steps)
    10
    """
    match = _PRESET.fullmatch(name.strip())
    if match is None:
        raise InvalidStrategy(f"unknown strategy preset {name!r}; presets: {', '.join(PRESETS)}", name=name)
    if match["all"]:
        return all_at_once()
    if match["canary"]:
        strategy = canary(int(match["canary"]) * 100, int(match["bake"]) * 60)
    else:
        strategy = linear(int(match["linear"]) * 100, int(match["every"]) * 60)
    return replace(strategy, name=match[0].removeprefix("CodeDeployDefault.").removeprefix("Lambda"))


def build(
    name: str,
    *,
    weight_bp: int | None = None,
    bake_s: int | None = None,
    step_bp: int | None = None,
    interval_s: int | None = None,
    steps: Iterable[tuple[int, int]] | None = None,
) -> Strategy:
    """A strategy by kind with its parameters (defaults: canary 10% for 300 s, linear 10% every 60 s,
    blue-green bake 300 s), or a preset by name. Parameters that the kind does not use are refused.

    >>> build("linear", step_bp=2500, interval_s=30).steps
    (Step(25%, 30s), Step(50%, 30s), Step(75%, 30s), Step(100%, 0s))
    >>> build("Canary10Percent5Minutes").name
    'Canary10Percent5Minutes'
    """
    planned = None if steps is None else list(steps)
    given: dict[str, object] = {
        "weight": weight_bp,
        "bake_s": bake_s,
        "step": step_bp,
        "interval_s": interval_s,
        "steps": planned,
    }
    uses = {
        Kind.ALL_AT_ONCE.value: set(),
        Kind.CANARY.value: {"weight", "bake_s"},
        Kind.LINEAR.value: {"step", "interval_s"},
        Kind.STEPS.value: {"steps"},
        Kind.BLUE_GREEN.value: {"bake_s"},
    }.get(name)
    extra = sorted(k for k, v in given.items() if v is not None and (uses is None or k not in uses))
    if extra:
        raise InvalidStrategy(f"strategy {name!r} does not take {', '.join(extra)}", name=name)
    if name == Kind.ALL_AT_ONCE:
        return all_at_once()
    if name == Kind.CANARY:
        return canary(1000 if weight_bp is None else weight_bp, 300 if bake_s is None else bake_s)
    if name == Kind.LINEAR:
        return linear(1000 if step_bp is None else step_bp, 60 if interval_s is None else interval_s)
    if name == Kind.STEPS:
        if not planned:
            raise InvalidStrategy("strategy 'steps' needs its steps (weight and bake time each)")
        return explicit(planned)
    if name == Kind.BLUE_GREEN:
        return blue_green(300 if bake_s is None else bake_s)
    return preset(name)
