"""A rollout's JSON view as text and Rich renderables: status, metrics, history, the live --watch view.
Pure: a view dict in, renderables out, tested without a server."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from turnout.cli import render
from turnout.cli.rollout_options import UNITS

if TYPE_CHECKING:
    from rich.console import RenderableType

TERMINAL = frozenset({"succeeded", "rolled-back", "failed", "aborted"})
HISTORY_LINES = 5


def duration_text(seconds: float) -> str:
    """``90`` -> ``1m30s``, ``3600`` -> ``1h``, ``0`` -> ``0s``; fractions round up (a countdown)."""
    rest = math.ceil(seconds) if seconds > 0 else 0
    parts = []
    for unit, size in UNITS.items():
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
