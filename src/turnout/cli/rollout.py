"""`turnout rollout start|status|pause|resume|promote|abort|history`: progressive delivery of an alias.

A rollout moves an alias from its version (the baseline) to another (the candidate) step by step, behind
health gates, and rolls back by itself when a gate fails. The server runs it; these commands start it,
watch it and steer it.

The pure helpers (parsing durations, rates and steps; building the request body from the options;
rendering a rollout's JSON view) take and return plain values, so they are tested without a server.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from turnout.cli import render
from turnout.cli.aliases import AliasArg, FunctionArg
from turnout.cli.client import ApiClient, CliError, api_path
from turnout.cli.render import Output, OutputOption

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

PANEL = "Rollouts"
INVALID = "InvalidParameterValue"
TERMINAL = frozenset({"succeeded", "rolled-back", "failed", "aborted"})
KINDS = ("all-at-once", "canary", "linear", "steps", "blue-green")
POLL_SECONDS = 0.5
RECONNECT_SECONDS = 30.0  # how long --watch waits for a server that stopped answering
TRANSPORT_ERRORS = frozenset({"ServerUnreachable", "ServerTimeout", "ConnectionFailed"})
INTERRUPTED = 130  # exit code of a --watch stopped with Ctrl-C: the rollout goes on
HISTORY_LINES = 5

rollout_app = typer.Typer(
    help="Move an alias to a new version step by step, behind health gates that roll it back by themselves.",
    no_args_is_help=True,
)

ReasonOption = Annotated[str, typer.Option("--reason", help="Why: kept in the rollout's history.")]
WatchOption = Annotated[
    bool,
    typer.Option(
        "--watch",
        "-w",
        help="Follow the rollout live until it ends, then print the report; exit 0 if it succeeded, "
        "1 if it rolled back, failed or was aborted.",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout", rich_help_panel=PANEL)


# ----------------------------------------------------------------------------------------------- parsing


def invalid(flag: str, value: object, expected: str) -> CliError:
    """The error for a bad option value: ``InvalidParameterValue: --bake '5x': expected ...``."""
    return CliError(INVALID, f"{flag} {value!r}: expected {expected}")


_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, flag: str, minimum: int = 0) -> int:
    """Whole seconds from ``90``, ``90s``, ``5m``, ``1h``, ``1m30s`` or ``1d``.

    >>> parse_duration("1m30s", "--bake"), parse_duration("90", "--bake"), parse_duration("1h", "--bake")
    (90, 90, 3600)
    """
    value = text.strip().lower().replace(" ", "")
    match = _DURATION.fullmatch(value)
    if not value or match is None:
        raise invalid(flag, text, "a duration such as 90, 90s, 5m, 1h or 1m30s")
    seconds = sum(int(match[unit] or 0) * size for unit, size in _UNITS.items())
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


def duration_text(seconds: float) -> str:
    """``90`` -> ``1m30s``, ``3600`` -> ``1h``, ``0`` -> ``0s``; fractions round up (a countdown)."""
    rest = math.ceil(seconds) if seconds > 0 else 0
    parts = []
    for unit, size in _UNITS.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def versions_text(view: Mapping[str, Any]) -> str:
    return f"{view['baseline']} → {view['candidate']}"


def _version_key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def weights_text(weights: Mapping[str, float]) -> str:
    """``{"3": 90.0, "4": 10.0}`` as ``3: 90%, 4: 10%``."""
    return ", ".join(f"{v}: {render.percent(weights[v])}" for v in sorted(weights, key=_version_key)) or "-"


def strategy_label(strategy: Mapping[str, Any]) -> str:
    """``Canary10Percent5Minutes (canary)`` for a preset, else the kind."""
    kind, name = strategy.get("kind", "?"), strategy.get("name") or ""
    return f"{name} ({kind})" if name and name != kind else str(kind)


def plan_text(strategy: Mapping[str, Any]) -> str:
    """The steps as ``10% for 5m → 100%``."""
    return " → ".join(
        f"{s['weight_bp'] / 100:g}%" + (f" for {duration_text(s['bake_s'])}" if s.get("bake_s") else "")
        for s in strategy.get("steps", [])
    )


def step_text(view: Mapping[str, Any]) -> str:
    """``2/5``; ``0/5 (no traffic moved yet)`` before the first step."""
    step, steps = int(view["step"]), int(view["steps"])
    return f"0/{steps} (no traffic moved yet)" if step < 0 else f"{step + 1}/{steps}"


def rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def ms_text(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.1f} ms"


def errors_text(errors: Mapping[str, int] | None) -> str:
    """``{"Function.Unhandled": 2, "Timeout": 1}`` as ``3 (Function.Unhandled 2, Timeout 1)``."""
    if not errors:
        return "0"
    total = sum(errors.values())
    return f"{total} (" + ", ".join(f"{code} {count}" for code, count in sorted(errors.items())) + ")"


_GATE_TEXT: dict[str, Callable[[Any], str]] = {
    "max_error_rate": lambda v: f"error rate ≤ {rate_text(v)}",
    "max_p99_ms": lambda v: f"p99 ≤ {ms_text(v)}",
    "max_error_rate_increase": lambda v: f"error rate ≤ baseline + {rate_text(v)}",
    "max_p99_ratio": lambda v: f"p99 ≤ {v:g} × baseline",
    "max_mismatch_rate": lambda v: f"shadow mismatches ≤ {rate_text(v)}",
    "custom": lambda v: f"custom gate {v}",
}
_GATE_PARAMETERS = ("min_invocations", "alpha", "min_p99_increase_ms")  # tuning, not gates


def gates_text(gates: Mapping[str, Any] | None) -> str:
    """The gates that judge, e.g. ``error rate ≤ 5.00%, p99 ≤ 250.0 ms (min 100 invocations, alpha 0.01)``;
    ``off`` when none does."""
    given = {key: value for key, value in (gates or {}).items() if value is not None and value is not False}
    if given.pop("no_gates", False):
        return "off"
    checks = [
        _GATE_TEXT[key](value) if key in _GATE_TEXT else f"{key}={value}"
        for key, value in given.items()
        if key not in _GATE_PARAMETERS
    ]
    if not checks:
        return "off"
    params = []
    if "min_invocations" in given:
        params.append(f"min {given['min_invocations']} invocations")
    if "alpha" in given:
        params.append(f"alpha {given['alpha']:g}")
    return ", ".join(checks) + (f" ({', '.join(params)})" if params else "")


def metrics_table(view: Mapping[str, Any]) -> Table:
    """Baseline, candidate (and shadow) side by side: invocations, errors, error rate, p50, p99."""
    metrics = view.get("metrics") or {}
    window = metrics.get("window_s")
    title = f"metrics over the last {duration_text(window)}" if window else "metrics"
    rows = []
    for side, version in (
        ("baseline", view["baseline"]),
        ("candidate", view["candidate"]),
        ("shadow", view["candidate"]),
    ):
        figures = metrics.get(side)
        if not figures:
            continue
        rows.append(
            (
                side,
                version,
                figures.get("invocations", 0),
                errors_text(figures.get("errors")),
                rate_text(figures.get("error_rate")),
                ms_text(figures.get("p50_ms")),
                ms_text(figures.get("p99_ms")),
                (
                    f"{figures.get('mismatches', 0)} of {figures.get('compared', 0)}"
                    if side == "shadow" and "compared" in figures
                    else ""
                ),
            )
        )
    columns = ["", "version", "invocations", "errors", "error rate", "p50", "p99"]
    if any(row[-1] for row in rows):
        columns.append("output mismatches")
        return render.table(columns, rows, title=title)
    return render.table(columns, [row[:-1] for row in rows], title=title)


def history_line(entry: Mapping[str, Any]) -> str:
    """One history entry: ``2025-11-26 09:05:59 set-weights → baking  3 (90%), 4 (10%)  reason``."""
    line = f"{render.when(entry.get('at'))} {entry.get('action', '?')} → {entry.get('state', '?')}"
    if entry.get("routing"):
        line += f"  {entry['routing']}"
    if entry.get("reason"):
        line += f"  {entry['reason']}"
    return line


def history_table(history: Sequence[Mapping[str, Any]], last: int = HISTORY_LINES) -> Table:
    """The last ``last`` history entries, oldest first."""
    rows = [
        (render.when(e.get("at")), e.get("action"), e.get("state"), e.get("routing"), e.get("reason"))
        for e in list(history)[-last:]
    ]
    return render.table(["when", "action", "state", "routing", "reason"], rows, title="latest events")


def bake_left(view: Mapping[str, Any]) -> float:
    """Seconds of bake left in the current step (0 when over, or when the rollout is not baking)."""
    if view.get("state") in TERMINAL:
        return 0.0
    return max(float(view.get("bake_left_s") or 0.0), 0.0)


def status_fields(view: Mapping[str, Any]) -> Table:
    """The summary of a rollout: state, versions, strategy, step, weights, bake left, gates, reason."""
    strategy = view.get("strategy") or {}
    left = bake_left(view)
    return render.fields(
        [
            ("rollout", f"{view['id']} of {view['function']}:{view['alias']}"),
            ("state", Text(view["state"], style=state_style(view["state"]))),
            ("versions", versions_text(view)),
            ("strategy", f"{strategy_label(strategy)}: {plan_text(strategy)}"),
            ("step", step_text(view)),
            ("weights", weights_text(view.get("weights") or {})),
            ("progress", f"candidate at {render.percent(float(view.get('candidate_percent') or 0))}"),
            ("bake left", duration_text(left) if left else "-"),
            ("gates", gates_text(view.get("gates"))),
            ("reason", view.get("reason")),
            ("actor", view.get("actor")),
            ("started", render.when(view.get("created_at"))),
            ("updated", render.when(view.get("updated_at"))),
        ]
    )


def status_renderables(view: Mapping[str, Any], last: int = HISTORY_LINES) -> list[RenderableType]:
    """What `turnout rollout status` prints: the summary, the metrics and the latest history."""
    shown: list[RenderableType] = [status_fields(view), metrics_table(view)]
    if view.get("history"):
        shown.append(history_table(view["history"], last))
    return shown


def state_style(state: str) -> str:
    return {
        "succeeded": "bold green",
        "rolled-back": "bold red",
        "failed": "bold red",
        "aborted": "bold yellow",
    }.get(state, "bold cyan")


def outcome_text(view: Mapping[str, Any], done: str | None = None) -> str:
    """``rollout of hello:prod (3 → 4): paused``; with ``done`` (what was asked) and a state that differs:
    ``rollout of hello:prod (3 → 4): aborted (now rolling-back)``."""
    head = f"rollout of {view['function']}:{view['alias']} ({versions_text(view)})"
    state = view["state"]
    if done is None or done == state:
        return f"{head}: {state}"
    return f"{head}: {done} (now {state})"


def live_view(view: Mapping[str, Any]) -> RenderableType:
    """The --watch screen: weights, a step progress bar, candidate vs baseline, the time to the next step."""
    strategy = view.get("strategy") or {}
    header = Text.assemble(
        (f"rollout {view['id']} of {view['function']}:{view['alias']}  ", "bold"),
        f"{versions_text(view)}  {strategy_label(strategy)}  ",
        (view["state"], state_style(view["state"])),
    )
    steps, step = max(int(view["steps"]), 1), int(view["step"])
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=steps, completed=max(step + 1, 0), width=30), Text(f"step {step_text(view)}")
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("steps", bar)
    grid.add_row("weights", Text(weights_text(view.get("weights") or {})))
    left = bake_left(view)
    if left:
        label = "next step in" if step + 1 < int(view["steps"]) else "done in"
        grid.add_row(label, Text(duration_text(left)))
    grid.add_row("reason", Text(str(view.get("reason") or "-")))
    return Group(header, grid, metrics_table(view))


def exit_code(view: Mapping[str, Any]) -> int:
    """0 when the rollout succeeded; 1 when it rolled back, failed or was aborted (or has not ended)."""
    return 0 if view.get("state") == "succeeded" else 1


# ------------------------------------------------------------------------------------------- the server


def rollout_path(function: str, alias: str, *more: str) -> str:
    return api_path("functions", function, "aliases", alias, "rollout", *more)


def fetch_rollout(api: ApiClient, function: str, alias: str, rollout_id: int | None = None) -> dict[str, Any]:
    """The alias's current (active, else most recent) rollout; with ``rollout_id``, that one, even when a
    newer rollout of the alias started since."""
    view: dict[str, Any] = api.get(rollout_path(function, alias))
    if rollout_id is None or view["id"] == rollout_id:
        return view
    listed = api.get(api_path("functions", function, "aliases", alias, "rollouts"), limit=200)["rollouts"]
    for past in listed:
        if past["id"] == rollout_id:
            found: dict[str, Any] = past
            return found
    raise CliError("RolloutNotFound", f"rollout {rollout_id} of {function}:{alias} is no longer listed")


def watch(
    api: ApiClient, function: str, alias: str, rollout_id: int | None, out: Console, live: bool
) -> dict[str, Any]:
    """Poll the rollout every :data:`POLL_SECONDS` until it ends and return its final view. ``live``: a Rich
    live screen on ``out``; otherwise each new history entry is printed as a line (logs, pipes). A server
    that stops answering is waited for up to :data:`RECONNECT_SECONDS`."""
    if not live:
        seen: set[tuple[Any, ...]] = set()

        def lines(view: Mapping[str, Any]) -> None:
            for entry in view.get("history") or []:
                key = (entry.get("at"), entry.get("action"), entry.get("state"), entry.get("step"))
                if key not in seen:
                    seen.add(key)
                    out.print(escape(history_line(entry)), highlight=False)

        return _follow(api, function, alias, rollout_id, lines)

    from rich.live import Live

    with Live(console=out, auto_refresh=False, transient=True) as screen:
        return _follow(api, function, alias, rollout_id, lambda v: screen.update(live_view(v), refresh=True))


def _follow(
    api: ApiClient, function: str, alias: str, rollout_id: int | None, show: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    unreachable_since: float | None = None
    while True:
        try:
            view = fetch_rollout(api, function, alias, rollout_id)
        except CliError as error:
            if error.code not in TRANSPORT_ERRORS:
                raise
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since > RECONNECT_SECONDS:
                raise
        else:
            unreachable_since = None
            rollout_id = view["id"]
            show(view)
            if view["state"] in TERMINAL:
                return view
        time.sleep(POLL_SECONDS)


def watch_and_exit(
    api: ApiClient, function: str, alias: str, rollout_id: int | None, output: Output
) -> NoReturn:
    """--watch: follow the rollout to its end, print the report (or its JSON), exit by :func:`exit_code`."""
    out = render.console(stderr=output is Output.json)
    try:
        view = watch(api, function, alias, rollout_id, out, live=out.is_terminal)
    except KeyboardInterrupt:
        render.note(
            f"stopped watching; the rollout goes on: turnout rollout status {function} {alias} --watch"
        )
        raise typer.Exit(INTERRUPTED) from None
    if output is Output.json:
        render.print_json(view)
    else:
        render.show(*status_renderables(view))
        render.say(outcome_text(view), style=state_style(view["state"]))
    raise typer.Exit(exit_code(view))


# ---------------------------------------------------------------------------------------------- commands

STRATEGY, GATES, HOOKS, SHADOW = "Strategy", "Gates", "Hooks", "Shadow traffic"


@rollout_app.command("start")
def start(
    function: FunctionArg,
    alias: AliasArg,
    to: Annotated[int, typer.Option("--to", metavar="N", help="The version to roll out (the candidate).")],
    strategy: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="all-at-once, canary (the default), linear, steps, blue-green, or a CodeDeploy preset "
            "such as Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce.",
            rich_help_panel=STRATEGY,
            show_default=False,
        ),
    ] = None,
    weight: Annotated[
        str | None,
        typer.Option(
            metavar="PERCENT",
            help="canary: the candidate's share first (default 10).",
            rich_help_panel=STRATEGY,
        ),
    ] = None,
    bake: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="canary, blue-green: how long the step bakes (90, 90s, 5m, 1h, 1m30s; default 5m).",
            rich_help_panel=STRATEGY,
        ),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(
            metavar="PERCENT",
            help="linear: the share added each step (default 10).",
            rich_help_panel=STRATEGY,
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION", help="linear: the time between steps (default 1m).", rich_help_panel=STRATEGY
        ),
    ] = None,
    steps: Annotated[
        str | None,
        typer.Option(
            metavar="PCT:BAKE,...",
            help="Explicit steps, e.g. 5:1m,25:5m,50:5m (100% is added last); implies --strategy steps.",
            rich_help_panel=STRATEGY,
        ),
    ] = None,
    max_error_rate: Annotated[
        str | None,
        typer.Option(
            metavar="RATE",
            help="Roll back above this candidate error rate (0.05 or 5%).",
            rich_help_panel=GATES,
        ),
    ] = None,
    max_p99: Annotated[
        str | None,
        typer.Option(
            "--max-p99",
            metavar="TIME",
            help="Roll back above this candidate p99 (250ms, 1.5s; a number is ms).",
            rich_help_panel=GATES,
        ),
    ] = None,
    max_error_increase: Annotated[
        str | None,
        typer.Option(
            metavar="RATE",
            help="Roll back when the candidate's error rate is this much above the baseline's (0.01 or 1%).",
            rich_help_panel=GATES,
        ),
    ] = None,
    max_p99_ratio: Annotated[
        str | None,
        typer.Option(
            "--max-p99-ratio",
            metavar="X",
            help="Roll back when the candidate's p99 is above X times the baseline's.",
            rich_help_panel=GATES,
        ),
    ] = None,
    min_invocations: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Invocations a gate needs before it judges (default 100).",
            rich_help_panel=GATES,
        ),
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            metavar="A",
            help="Significance level of the statistical gates (default 0.01).",
            rich_help_panel=GATES,
        ),
    ] = None,
    custom_gate: Annotated[
        str | None,
        typer.Option(
            metavar="FN[:Q]",
            help="A function that judges each step from the rollout's metrics.",
            rich_help_panel=GATES,
        ),
    ] = None,
    no_gates: Annotated[
        bool,
        typer.Option(
            "--no-gates", help="Turn every gate off: only the clock moves the rollout.", rich_help_panel=GATES
        ),
    ] = False,
    window: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="The metrics window the gates judge (default 1m).",
            rich_help_panel=GATES,
        ),
    ] = None,
    pre_hook: Annotated[
        str | None,
        typer.Option(
            metavar="FN[:Q]",
            help="A validator function run before any traffic moves; its failure ends the rollout.",
            rich_help_panel=HOOKS,
        ),
    ] = None,
    pre_hook_events: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Instead: invoke the candidate with each event of this JSON file (a list, or one event; "
            "- is stdin).",
            rich_help_panel=HOOKS,
        ),
    ] = None,
    post_hook: Annotated[
        str | None,
        typer.Option(
            metavar="FN[:Q]",
            help="A validator function run at 100%; its failure rolls back.",
            rich_help_panel=HOOKS,
        ),
    ] = None,
    post_hook_events: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Instead: invoke the candidate with these events at 100%.",
            rich_help_panel=HOOKS,
        ),
    ] = None,
    hook_timeout: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION", help="How long a hook may take (default 5m).", rich_help_panel=HOOKS
        ),
    ] = None,
    max_hold: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="How long a baked step waits for gates that cannot judge yet before it rolls back "
            "(default 10m).",
            rich_help_panel=GATES,
        ),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            metavar="PERCENT",
            help="First mirror this share of live requests to the candidate (its answers are discarded).",
            rich_help_panel=SHADOW,
        ),
    ] = None,
    shadow_only: Annotated[
        bool,
        typer.Option(
            "--shadow-only", help="Only the shadow phase: the alias never moves.", rich_help_panel=SHADOW
        ),
    ] = False,
    compare_output: Annotated[
        bool,
        typer.Option(
            "--compare-output",
            help="Count shadow answers that differ from the baseline's.",
            rich_help_panel=SHADOW,
        ),
    ] = False,
    shadow_duration: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION", help="How long the shadow phase lasts (default 5m).", rich_help_panel=SHADOW
        ),
    ] = None,
    max_mismatch_rate: Annotated[
        str | None,
        typer.Option(
            metavar="RATE",
            help="A gate: at most this share of compared shadow answers may differ (with --compare-output "
            "the default is 0).",
            rich_help_panel=SHADOW,
        ),
    ] = None,
    no_warm: Annotated[
        bool, typer.Option("--no-warm", help="Do not warm the candidate's workers before each step.")
    ] = False,
    watch_it: WatchOption = False,
    output: OutputOption = Output.table,
) -> None:
    """Start moving an alias to version --to, step by step, behind health gates.

    Examples: `turnout rollout start hello prod --to 4` (canary: 10% for 5m, then 100%),
    `turnout rollout start hello prod --to 4 --strategy linear --step 20 --interval 2m --watch`,
    `turnout rollout start hello prod --to 4 --steps 5:1m,25:5m,50:5m --max-error-rate 2%`.
    """
    options = StartOptions(
        to=to,
        strategy=strategy,
        weight=weight,
        bake=bake,
        step=step,
        interval=interval,
        steps=steps,
        max_error_rate=max_error_rate,
        max_p99=max_p99,
        max_error_increase=max_error_increase,
        max_p99_ratio=max_p99_ratio,
        min_invocations=min_invocations,
        alpha=alpha,
        custom_gate=custom_gate,
        max_mismatch_rate=max_mismatch_rate,
        no_gates=no_gates,
        window=window,
        pre_hook=pre_hook,
        pre_hook_events=pre_hook_events,
        post_hook=post_hook,
        post_hook_events=post_hook_events,
        hook_timeout=hook_timeout,
        max_hold=max_hold,
        shadow=shadow,
        shadow_only=shadow_only,
        compare_output=compare_output,
        shadow_duration=shadow_duration,
        no_warm=no_warm,
    )
    body = start_body(options)
    with ApiClient.from_environ() as api:
        view = api.post(rollout_path(function, alias), json=body)
        if watch_it:
            if output is Output.table:
                render.say(started_text(view))
            watch_and_exit(api, function, alias, view["id"], output)
    if output is Output.json:
        render.print_json(view)
        return
    render.say(started_text(view))
    render.note(f"follow it: turnout rollout status {function} {alias} --watch")


def started_text(view: Mapping[str, Any]) -> str:
    """``started rollout 7 of hello:prod: 3 → 4, canary: 10% for 5m → 100%``."""
    strategy = view.get("strategy") or {}
    return (
        f"started rollout {view['id']} of {view['function']}:{view['alias']}: {versions_text(view)}, "
        f"{strategy_label(strategy)}: {plan_text(strategy)}"
    )


@rollout_app.command("status")
def status(
    function: FunctionArg, alias: AliasArg, watch_it: WatchOption = False, output: OutputOption = Output.table
) -> None:
    """The alias's current rollout (or its most recent one): state, weights, step, metrics, latest events.

    With --watch it follows the rollout live until it ends; the exit code is 0 if it succeeded, 1 if not.
    """
    with ApiClient.from_environ() as api:
        if watch_it:
            watch_and_exit(api, function, alias, None, output)
        view = api.get(rollout_path(function, alias))
    if output is Output.json:
        render.print_json(view)
        return
    render.show(*status_renderables(view))


def _act(function: str, alias: str, action: str, done: str, reason: str, output: Output) -> None:
    with ApiClient.from_environ() as api:
        view = api.post(rollout_path(function, alias, action), json={"reason": reason} if reason else None)
    if output is Output.json:
        render.print_json(view)
        return
    render.say(outcome_text(view, done))


@rollout_app.command("pause")
def pause(
    function: FunctionArg, alias: AliasArg, reason: ReasonOption = "", output: OutputOption = Output.table
) -> None:
    """Hold the rollout where it is (the gates still guard it: a failing one rolls back)."""
    _act(function, alias, "pause", "paused", reason, output)


@rollout_app.command("resume")
def resume(
    function: FunctionArg, alias: AliasArg, reason: ReasonOption = "", output: OutputOption = Output.table
) -> None:
    """Go on with a paused rollout; the bake time it had left is kept."""
    _act(function, alias, "resume", "resumed", reason, output)


@rollout_app.command("promote")
def promote(
    function: FunctionArg, alias: AliasArg, reason: ReasonOption = "", output: OutputOption = Output.table
) -> None:
    """Skip the remaining steps, bakes and gates: the candidate gets 100% now."""
    _act(function, alias, "promote", "promoted", reason, output)


@rollout_app.command("abort")
def abort(
    function: FunctionArg, alias: AliasArg, reason: ReasonOption = "", output: OutputOption = Output.table
) -> None:
    """Stop the rollout and give the baseline all the traffic back."""
    _act(function, alias, "abort", "aborted", reason, output)


@rollout_app.command("history")
def history(
    function: FunctionArg,
    alias: AliasArg,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many rollouts, newest first.")] = 20,
    output: OutputOption = Output.table,
) -> None:
    """The alias's past rollouts, newest first: versions, strategy, how each ended and why."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("functions", function, "aliases", alias, "rollouts"), limit=limit)
    if output is Output.json:
        render.print_json(data)
        return
    render.show(history_rows_table(data["rollouts"]))


def history_rows_table(rollouts: Sequence[Mapping[str, Any]]) -> Table:
    """One row per rollout: id, versions, strategy, state, actor, started, the final reason."""
    rows = [
        (
            r["id"],
            versions_text(r),
            strategy_label(r.get("strategy") or {}),
            Text(r["state"], style=state_style(r["state"])),
            r.get("actor"),
            render.when(r.get("created_at")),
            r.get("reason"),
        )
        for r in rollouts
    ]
    return render.table(["id", "versions", "strategy", "state", "actor", "started", "reason"], rows)
