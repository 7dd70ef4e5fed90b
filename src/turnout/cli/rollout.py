"""`turnout rollout start|status|pause|resume|promote|abort|history`: progressive delivery of an alias.

A rollout moves an alias from its version (the baseline) to another (the candidate) step by step, behind
health gates, and rolls back by itself when a gate fails. The server runs it; these commands start it,
watch it and steer it.

The pure helpers live beside it: ``rollout_options`` (parsing the options, building the request body) and
``rollout_view`` (rendering a rollout's JSON view); this module has the commands and the --watch loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape

from turnout.cli import render
from turnout.cli import rollout_flags as flag
from turnout.cli.aliases import AliasArg, FunctionArg
from turnout.cli.client import ApiClient, CliError, api_path
from turnout.cli.render import Output, OutputOption
from turnout.cli.rollout_flags import GATES
from turnout.cli.rollout_options import StartOptions, start_body
from turnout.cli.rollout_view import (
    TERMINAL,
    exit_code,
    history_line,
    history_rows_table,
    live_view,
    outcome_text,
    plan_text,
    state_style,
    status_renderables,
    strategy_label,
    versions_text,
)

if TYPE_CHECKING:
    from rich.console import Console

PANEL = "Rollouts"
POLL_SECONDS = 0.5
RECONNECT_SECONDS = 30.0  # how long --watch waits for a server that stopped answering
TRANSPORT_ERRORS = frozenset({"ServerUnreachable", "ServerTimeout", "ConnectionFailed"})
INTERRUPTED = 130  # exit code of a --watch stopped with Ctrl-C: the rollout goes on

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

HOOKS, SHADOW = "Hooks", "Shadow traffic"


@rollout_app.command("start")
def start(
    function: FunctionArg,
    alias: AliasArg,
    to: Annotated[int, typer.Option("--to", metavar="N", help="The version to roll out (the candidate).")],
    strategy: flag.StrategyOption = None,
    weight: flag.WeightOption = None,
    bake: flag.BakeOption = None,
    step: flag.StepOption = None,
    interval: flag.IntervalOption = None,
    steps: flag.StepsOption = None,
    max_error_rate: flag.MaxErrorRateOption = None,
    max_p99: flag.MaxP99Option = None,
    max_error_increase: flag.MaxErrorIncreaseOption = None,
    max_p99_ratio: flag.MaxP99RatioOption = None,
    min_invocations: flag.MinInvocationsOption = None,
    alpha: flag.AlphaOption = None,
    custom_gate: Annotated[
        str | None,
        typer.Option(
            metavar="FN[:Q]",
            help="A function that judges each step from the rollout's metrics.",
            rich_help_panel=GATES,
        ),
    ] = None,
    no_gates: flag.NoGatesOption = False,
    window: flag.WindowOption = None,
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
    max_hold: flag.MaxHoldOption = None,
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
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Start although the candidate or the baseline does not accept a shared resource's current "
            "version (refused with Incompatible otherwise); noted in the rollout's history.",
        ),
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
    if force:
        body["force"] = True
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


def _act(
    function: str, alias: str, action: str, done: str, reason: str, output: Output, force: bool = False
) -> None:
    body: dict[str, Any] = {**({"reason": reason} if reason else {}), **({"force": True} if force else {})}
    with ApiClient.from_environ() as api:
        view = api.post(rollout_path(function, alias, action), json=body or None)
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
    function: FunctionArg,
    alias: AliasArg,
    reason: ReasonOption = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Give the baseline its traffic back even if it no longer accepts a shared resource's "
            "version (refused with Incompatible otherwise); recorded in the alias's history.",
        ),
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Stop the rollout and give the baseline all the traffic back."""
    _act(function, alias, "abort", "aborted", reason, output, force)


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
