"""`turnout schedule add|ls|show|rm|enable|disable` (issue 6)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from turnout.cli import render
from turnout.cli.client import ApiClient, api_path
from turnout.cli.render import Output, OutputOption

PANEL = "Triggers"
schedule_app = typer.Typer(
    help="Run a function on a cron or rate schedule (EventBridge scheduled events).", no_args_is_help=True
)
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name.")]


class Missed(StrEnum):
    fire_once = "fire-once"
    skip = "skip"


def register(app: typer.Typer) -> None:
    """Add the commands to the `turnout` app."""
    app.add_typer(schedule_app, name="schedule", rich_help_panel=PANEL)


@schedule_app.command("add")
def add_schedule(
    name: NameArg,
    expression: Annotated[
        str,
        typer.Argument(
            metavar="EXPR",
            help="rate(5 minutes), rate(1 second), cron(0 12 * * ? *) (AWS: min hour day month weekday "
            "year) or a plain five-field cron '0 12 * * *'.",
        ),
    ],
    target: Annotated[
        str,
        typer.Argument(
            metavar="FN:QUALIFIER", help="The function and an alias or version (FN alone: $LATEST)."
        ),
    ],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone the cron fields are read in.")] = "UTC",
    input: Annotated[
        str | None,
        typer.Option("--input", metavar="JSON", help="Send this JSON instead of the scheduled event."),
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    missed: Annotated[
        Missed,
        typer.Option(
            "--missed",
            help="Ticks missed while the server was down: fire-once (one catch-up invocation) or skip.",
        ),
    ] = Missed.fire_once,
    queued: Annotated[
        bool,
        typer.Option(
            "--async", help="Put each tick on the async queue (retries, dead letters, exactly once)."
        ),
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Create a schedule.

    Example: `turnout schedule add nightly 'cron(0 3 * * ? *)' report:prod --tz Europe/Paris`.
    """
    body: dict[str, Any] = {
        "name": name,
        "expression": expression,
        "function": target,
        "timezone": tz,
        "enabled": not disabled,
        "missed": missed.value,
        "queued": queued,
    }
    if input is not None:
        try:
            body["input"] = json.loads(input)
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--input") from exc
    with ApiClient.from_environ() as api:
        data = api.post(api_path("schedules"), json=body)
    if output is Output.json:
        render.print_json(data)
        return
    render.say(f"schedule {data['name']}: {data['expression']} → {data['function']}:{data['qualifier']}")
    render.note(f"next tick {render.when(data['next_fire_at'])}" if data["enabled"] else "disabled")


@schedule_app.command("ls")
def list_schedules(
    function: Annotated[
        str | None, typer.Option("--function", help="Only the schedules of this function.")
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """List schedules with their next tick and last result."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("schedules"), function=function)
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (
            s["name"],
            s["expression"],
            s["timezone"],
            f"{s['function']}:{s['qualifier']}",
            s["enabled"],
            render.when(s["next_fire_at"]),
            render.when(s["last_fired_at"]),
            (s["last_result"] or {}).get("status"),
        )
        for s in data["schedules"]
    ]
    columns = ["name", "expression", "tz", "target", "enabled", "next", "last fired", "result"]
    render.show(render.table(columns, rows))


@schedule_app.command("show")
def show_schedule(name: NameArg, output: OutputOption = Output.table) -> None:
    """One schedule in full."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("schedules", name))
    if output is Output.json:
        render.print_json(data)
        return
    render.show(render.fields([(k.replace("_", " "), v) for k, v in data.items()]))


@schedule_app.command("rm")
def remove_schedule(name: NameArg) -> None:
    """Delete a schedule."""
    with ApiClient.from_environ() as api:
        api.delete(api_path("schedules", name))
    render.say(f"deleted schedule {name}")


@schedule_app.command("enable")
def enable_schedule(name: NameArg, output: OutputOption = Output.table) -> None:
    """Enable a schedule: it fires from its next tick on (ticks while it was disabled do not fire)."""
    _toggle(name, "enable", output)


@schedule_app.command("disable")
def disable_schedule(name: NameArg, output: OutputOption = Output.table) -> None:
    """Disable a schedule."""
    _toggle(name, "disable", output)


def _toggle(name: str, action: str, output: Output) -> None:
    with ApiClient.from_environ() as api:
        data = api.post(api_path("schedules", name, action))
    if output is Output.json:
        render.print_json(data)
        return
    render.say(f"schedule {name}: {action}d")
