"""Options of `turnout rollout start`: parsing durations, percentages, rates and steps, and the request
body they make. Pure: plain values in and out, tested without a server."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.cli.client import CliError

if TYPE_CHECKING:
    pass

INVALID = "InvalidParameterValue"
KINDS = ("all-at-once", "canary", "linear", "steps", "blue-green")


def invalid(flag: str, value: object, expected: str) -> CliError:
    """The error for a bad option value: ``InvalidParameterValue: --bake '5x': expected ...``."""
    return CliError(INVALID, f"{flag} {value!r}: expected {expected}")


_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?")
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, flag: str, minimum: int = 0) -> int:
    """Whole seconds from ``90``, ``90s``, ``5m``, ``1h``, ``1m30s`` or ``1d``.

    >>> parse_duration("1m30s", "--bake"), parse_duration("90", "--bake"), parse_duration("1h", "--bake")
    (90, 90, 3600)
    """
    value = text.strip().lower().replace(" ", "")
    match = _DURATION.fullmatch(value)
    if not value or match is None:
        raise invalid(flag, text, "a duration such as 90, 90s, 5m, 1h or 1m30s")
    seconds = sum(int(match[unit] or 0) * size for unit, size in UNITS.items())
    if seconds < minimum:
        raise invalid(flag, text, f"a duration of at least {minimum}s")
    return seconds


def _number(text: str, flag: str, original: str, expected: str) -> float:
    try:
        number = float(text.strip())
    except ValueError:
        raise invalid(flag, original, expected) from None
    if not math.isfinite(number):
        raise invalid(flag, original, expected)
    return number


def parse_percent(text: str, flag: str, *, below_100: bool = False) -> float:
    """A percentage above 0 and at most 100 (below 100 with ``below_100``) from ``10`` or ``12.5%``; at
    most 2 decimals, since weights are basis points.

    >>> parse_percent("12.5%", "--weight")
    12.5
    """
    expected = "a percentage such as 10 or 12.5%"
    number = _number(text.strip().removesuffix("%"), flag, text, expected)
    top = "below 100" if below_100 else "at most 100"
    if not 0 < number <= 100 or (below_100 and number == 100):
        raise invalid(flag, text, f"a percentage above 0 and {top}")
    if abs(number * 100 - round(number * 100)) > 1e-6:
        raise invalid(flag, text, "a percentage with at most 2 decimals")
    return number


def parse_rate(text: str, flag: str) -> float:
    """A rate from 0 to below 1, given as a fraction (``0.05``) or a percentage (``5%``).

    >>> parse_rate("5%", "--max-error-rate"), parse_rate("0.01", "--max-error-rate")
    (0.05, 0.01)
    """
    expected = "a rate from 0 to below 1, such as 0.05 or 5%"
    raw = text.strip()
    rate = (
        _number(raw[:-1], flag, text, expected) / 100
        if raw.endswith("%")
        else _number(raw, flag, text, expected)
    )
    if not 0 <= rate < 1:
        raise invalid(flag, text, expected)
    return rate


_MILLISECONDS = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<unit>ms|s)?")


def parse_milliseconds(text: str, flag: str) -> float:
    """Milliseconds above 0 from ``250ms``, ``1.5s`` or a bare number of milliseconds (``250``).

    >>> parse_milliseconds("1.5s", "--max-p99"), parse_milliseconds("250", "--max-p99")
    (1500.0, 250.0)
    """
    match = _MILLISECONDS.fullmatch(text.strip().lower().replace(" ", ""))
    if match is None or float(match["number"]) <= 0:
        raise invalid(flag, text, "a time above 0 such as 250ms, 1.5s or 250 (milliseconds)")
    number = float(match["number"])
    return number * 1000 if match["unit"] == "s" else number


def parse_ratio(text: str, flag: str) -> float:
    """A factor above 0 from ``1.5`` or ``1.5x``."""
    expected = "a factor above 0 such as 1.5 or 1.5x"
    ratio = _number(text.strip().lower().removesuffix("x"), flag, text, expected)
    if ratio <= 0:
        raise invalid(flag, text, expected)
    return ratio


def parse_steps(text: str, flag: str = "--steps") -> list[dict[str, Any]]:
    """``5:1m,25:5m,50:5m`` as ``[{"weight": 5.0, "bake_s": 60}, ...]``: the candidate's percentage and
    its bake time per step; a step without ``:BAKE`` does not bake. Weights must grow.

    >>> parse_steps("5:1m,50")
    [{'weight': 5.0, 'bake_s': 60}, {'weight': 50.0, 'bake_s': 0}]
    """
    steps: list[dict[str, Any]] = []
    for part in text.split(","):
        weight_text, _, bake_text = part.strip().partition(":")
        if not weight_text.strip():
            raise invalid(flag, text, "steps PERCENT:BAKE separated by commas, such as 5:1m,25:5m,50:5m")
        weight = parse_percent(weight_text, flag)
        bake = parse_duration(bake_text, flag) if bake_text.strip() else 0
        if steps and weight <= steps[-1]["weight"]:
            raise invalid(flag, text, "weights that grow from one step to the next")
        steps.append({"weight": weight, "bake_s": bake})
    return steps


def parse_function_ref(text: str, flag: str) -> str:
    """``fn`` or ``fn:qualifier`` (an alias or a version), checked for its shape only."""
    function, sep, qualifier = text.strip().partition(":")
    if not function.strip() or (sep and not qualifier.strip()):
        raise invalid(flag, text, "a function as FN or FN:QUALIFIER (an alias or a version)")
    return text.strip()


def read_events(path: str, flag: str) -> list[Any]:
    """The test events in a JSON file (``-``: stdin): a JSON list is a list of events, anything else one."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(INVALID, f"{flag} {path!r}: cannot read it: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CliError(INVALID, f"{flag} {path!r}: not valid JSON: {exc}") from exc
    events = data if isinstance(data, list) else [data]
    if not events:
        raise invalid(flag, path, "a file with at least one event")
    return events


# ------------------------------------------------------------------------------------------ request body


@dataclass(frozen=True)
class StartOptions:
    """The options of `turnout rollout start` as typed; ``None`` means not given (the server's default)."""

    to: int
    strategy: str | None = None
    weight: str | None = None
    bake: str | None = None
    step: str | None = None
    interval: str | None = None
    steps: str | None = None
    max_error_rate: str | None = None
    max_p99: str | None = None
    max_error_increase: str | None = None
    max_p99_ratio: str | None = None
    min_invocations: int | None = None
    alpha: str | None = None
    custom_gate: str | None = None
    max_mismatch_rate: str | None = None
    no_gates: bool = False
    window: str | None = None
    pre_hook: str | None = None
    pre_hook_events: str | None = None
    post_hook: str | None = None
    post_hook_events: str | None = None
    hook_timeout: str | None = None
    max_hold: str | None = None
    shadow: str | None = None
    shadow_only: bool = False
    compare_output: bool = False
    shadow_duration: str | None = None
    no_warm: bool = False


# Which strategies each shape option applies to.
_SHAPE_OPTIONS = {
    "--weight": ("canary",),
    "--bake": ("canary", "blue-green"),
    "--step": ("linear",),
    "--interval": ("linear",),
    "--steps": ("steps",),
}


def resolve_strategy(name: str | None, given: Sequence[str]) -> str | None:
    """The strategy to send: a kind (lower case) or a CodeDeploy preset, checked against the shape options
    ``given`` (``--weight`` is for canary, ``--step``/``--interval`` for linear, ...). Without a name,
    ``--steps`` means ``steps`` and ``--step``/``--interval`` mean ``linear``; otherwise ``None`` (the
    server's default, canary).
    """
    kind: str | None
    if name is None:
        strategy = (
            "steps" if "--steps" in given else "linear" if {"--step", "--interval"} & set(given) else None
        )
        kind = strategy or "canary"
    elif name.strip().lower() in KINDS:
        strategy = kind = name.strip().lower()
    else:
        strategy, kind = _check_preset(name), None
    for flag in given:
        if kind not in _SHAPE_OPTIONS[flag]:
            what = f"--strategy {strategy}" if strategy else "the default strategy (canary)"
            which = " or ".join(_SHAPE_OPTIONS[flag])
            if kind is None:
                raise CliError(
                    INVALID, f"{flag} does not apply to the preset {strategy}: a preset fixes its steps"
                )
            raise CliError(INVALID, f"{flag} does not apply to {what}; it is for --strategy {which}")
    return strategy


def _check_preset(name: str) -> str:
    from turnout.domain.strategy import preset
    from turnout.errors import TurnoutError

    try:
        preset(name)
    except TurnoutError as error:
        raise CliError(
            INVALID, f"--strategy {name!r}: not one of {', '.join(KINDS)}, nor a preset: {error}"
        ) from error
    return name.strip()


def start_body(options: StartOptions) -> dict[str, Any]:
    """The JSON body of ``POST .../rollout``: only the fields given (so the server's defaults apply to the
    rest), each checked; a bad value raises :class:`CliError` ``InvalidParameterValue``."""
    o = options
    if o.to < 1:
        raise invalid("--to", o.to, "a version number (1 or more)")
    body: dict[str, Any] = {"to": o.to}
    shape = {
        "--weight": o.weight,
        "--bake": o.bake,
        "--step": o.step,
        "--interval": o.interval,
        "--steps": o.steps,
    }
    strategy = resolve_strategy(o.strategy, [flag for flag, value in shape.items() if value is not None])
    if strategy is not None:
        body["strategy"] = strategy
    if o.weight is not None:
        body["weight"] = parse_percent(o.weight, "--weight", below_100=True)
    if o.bake is not None:
        body["bake_s"] = parse_duration(o.bake, "--bake")
    if o.step is not None:
        body["step"] = parse_percent(o.step, "--step", below_100=True)
    if o.interval is not None:
        body["interval_s"] = parse_duration(o.interval, "--interval")
    if o.steps is not None:
        body["steps"] = parse_steps(o.steps)
    body.update(_gates(o))
    if o.window is not None:
        body["window_s"] = parse_duration(o.window, "--window", minimum=1)
    body.update(_hooks(o))
    if o.hook_timeout is not None:
        body["hook_timeout_s"] = parse_duration(o.hook_timeout, "--hook-timeout", minimum=1)
    if o.max_hold is not None:
        body["max_hold_s"] = parse_duration(o.max_hold, "--max-hold")
    body.update(_shadow(o))
    if o.no_warm:
        body["warm"] = False
    return body


def parse_alpha(text: str, flag: str) -> float:
    """A significance level above 0 and below 0.5."""
    expected = "a significance level above 0 and below 0.5, such as 0.01"
    alpha = _number(text, flag, text, expected)
    if not 0 < alpha < 0.5:
        raise invalid(flag, text, expected)
    return alpha


# The gate options given as text: (the StartOptions field, the flag, the API's gate field, the parser).
_GATE_OPTIONS: tuple[tuple[str, str, str, Callable[[str, str], Any]], ...] = (
    ("max_error_rate", "--max-error-rate", "max_error_rate", parse_rate),
    ("max_p99", "--max-p99", "max_p99_ms", parse_milliseconds),
    ("max_error_increase", "--max-error-increase", "max_error_rate_increase", parse_rate),
    ("max_p99_ratio", "--max-p99-ratio", "max_p99_ratio", parse_ratio),
    ("alpha", "--alpha", "alpha", parse_alpha),
    ("custom_gate", "--custom-gate", "custom", parse_function_ref),
    ("max_mismatch_rate", "--max-mismatch-rate", "max_mismatch_rate", parse_rate),
)


def _gates(o: StartOptions) -> dict[str, Any]:
    gates: dict[str, Any] = {}
    given: list[str] = []
    for attribute, flag, field, parse in _GATE_OPTIONS:
        text = getattr(o, attribute)
        if text is not None:
            gates[field] = parse(text, flag)
            given.append(flag)
    if o.min_invocations is not None:
        if o.min_invocations < 1:
            raise invalid("--min-invocations", o.min_invocations, "a count of at least 1")
        gates["min_invocations"] = o.min_invocations
        given.append("--min-invocations")
    if o.no_gates:
        if given:
            raise CliError(INVALID, f"--no-gates turns every gate off: leave out {', '.join(given)}")
        return {"gates": {}, "no_gates": True}
    return {"gates": gates} if gates else {}


def _hooks(o: StartOptions) -> dict[str, Any]:
    hooks: dict[str, Any] = {}
    for where, function, events in (
        ("pre", o.pre_hook, o.pre_hook_events),
        ("post", o.post_hook, o.post_hook_events),
    ):
        if function is not None and events is not None:
            raise CliError(INVALID, f"give --{where}-hook or --{where}-hook-events, not both")
        if function is not None:
            hooks[f"{where}_hook"] = {"function": parse_function_ref(function, f"--{where}-hook")}
        elif events is not None:
            hooks[f"{where}_hook"] = {"events": read_events(events, f"--{where}-hook-events")}
    return hooks


def _shadow(o: StartOptions) -> dict[str, Any]:
    if o.shadow is None:
        extras = [
            flag
            for flag, value in (
                ("--shadow-only", o.shadow_only),
                ("--compare-output", o.compare_output),
                ("--shadow-duration", o.shadow_duration is not None),
            )
            if value
        ]
        if extras:
            raise CliError(INVALID, f"{', '.join(extras)} needs --shadow PERCENT")
        return {}
    shadow: dict[str, Any] = {"percent": parse_percent(o.shadow, "--shadow")}
    if o.compare_output:
        shadow["compare_output"] = True
    if o.shadow_duration is not None:
        shadow["duration_s"] = parse_duration(o.shadow_duration, "--shadow-duration", minimum=1)
    if o.shadow_only:
        shadow["only"] = True
    return {"shadow": shadow}


# --------------------------------------------------------------------------------------------- rendering
