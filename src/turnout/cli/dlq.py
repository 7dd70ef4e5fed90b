"""`turnout dlq ls|show|redrive|purge` (issue 6): async events that ran out of retries; and
`turnout async-config` (where a qualifier's async events go when done, and their retry limits)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from turnout.cli import render
from turnout.cli.client import ApiClient, api_path
from turnout.cli.render import Output, OutputOption

dlq_app = typer.Typer(
    help="The dead-letter list: async events that failed every attempt or could not run.",
    no_args_is_help=True,
)
FunctionOpt = Annotated[str | None, typer.Argument(metavar="[FN]", help="Only this function's events.")]


def register(app: typer.Typer) -> None:
    """Add the commands to the `turnout` app."""
    app.add_typer(dlq_app, name="dlq", rich_help_panel="Run")
    app.command("async-config", rich_help_panel="Run")(async_config)


def async_config(
    target: Annotated[str, typer.Argument(metavar="FN[:QUALIFIER]", help="No qualifier: $LATEST.")],
    on_success: Annotated[
        str | None, typer.Option("--on-success", metavar="FN[:Q]", help="Gets a record of each success.")
    ] = None,
    on_failure: Annotated[
        str | None,
        typer.Option(
            "--on-failure", metavar="FN[:Q]", help="Gets a record of each event that failed for good."
        ),
    ] = None,
    max_retries: Annotated[
        int | None, typer.Option("--max-retries", help="0-2 retries after a failure.")
    ] = None,
    max_age: Annotated[
        int | None, typer.Option("--max-age", help="Oldest event still tried, 60-21600 s.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the qualifier's config.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every qualifier's config.")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Where a qualifier's async invocations go when done (destinations), and how hard they are retried.

    `turnout async-config thumbs:prod --on-failure alerts --max-retries 0` sets it (replacing the
    qualifier's config; options not given fall back to the server's defaults). Destinations get Lambda's
    destination record as an async event. `--clear` removes it; no option shows it; `--all` lists all.
    """
    function, _, qualifier = target.partition(":")
    qualifier = qualifier or "$LATEST"
    setting = any(v is not None for v in (on_success, on_failure, max_retries, max_age))
    if clear and setting:
        raise typer.BadParameter("--clear takes no other option")
    with ApiClient.from_environ() as api:
        if show_all:
            data = api.get(api_path("functions", function, "async-config"))
            configs = data["configs"]
        elif clear:
            api.delete(api_path("functions", function, "async-config", qualifier))
            render.say(f"{function}:{qualifier}: async config removed (server defaults apply)")
            return
        elif setting:
            body: dict[str, Any] = {"on_success": on_success, "on_failure": on_failure}
            body |= {"max_retries": max_retries, "max_age_s": max_age}
            configs = [api.put(api_path("functions", function, "async-config", qualifier), json=body)]
        else:
            configs = [api.get(api_path("functions", function, "async-config", qualifier))]
    if output is Output.json:
        render.print_json(configs if show_all else configs[0])
        return
    rows = [
        (c["qualifier"], c["on_success"] or "-", c["on_failure"] or "-", _or_default(c["max_retries"]),
         _or_default(c["max_age_s"]))
        for c in configs
    ]  # fmt: skip
    header = ("qualifier", "on success", "on failure", "max retries", "max age (s)")
    render.show(render.table(header, rows, title=f"async config of {function}"))


def _or_default(value: Any) -> str:
    return "default" if value is None else str(value)


def _reason(event: dict[str, Any]) -> str:
    error = event.get("last_error") or {}
    return str(error.get("reason") or error.get("code") or "-")


@dlq_app.command("ls")
def list_dead(function: FunctionOpt = None, output: OutputOption = Output.table) -> None:
    """List dead events, oldest id first. Example: `turnout dlq ls thumbs -o json`."""
    params = {"status": "dead", "limit": 1000} | ({"function": function} if function else {})
    with ApiClient.from_environ() as api:
        data = api.get("/v1/events", **params)
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (
            e["id"],
            e["function"] + (f":{e['qualifier']}" if e.get("qualifier") else ""),
            e.get("version"),
            e["attempts"],
            render.when(e["updated_at"]),
            _reason(e),
        )
        for e in data["events"]
    ]
    render.show(render.table(("id", "function", "version", "attempts", "dead since", "reason"), rows))


@dlq_app.command("show")
def show(event_id: Annotated[str, typer.Argument(metavar="ID")], output: OutputOption = Output.table) -> None:
    """One event: payload, pinned version, every attempt, the last error."""
    with ApiClient.from_environ() as api:
        event = api.get(api_path("events", event_id))
    if output is Output.json:
        render.print_json(event)
        return
    error = event.get("last_error") or {}
    render.show(
        render.fields(
            [
                ("id", event["id"]),
                ("function", event["function"]),
                ("qualifier", event.get("qualifier")),
                ("version", event.get("version")),
                ("status", event["status"]),
                ("attempts", event["attempts"]),
                ("enqueued", render.when(event["enqueued_at"])),
                ("reason", _reason(event)),
                ("error", error.get("message")),
                ("payload", event.get("payload")),
            ]
        ),
        render.table(
            ("#", "version", "started", "outcome", "ms"),
            [
                (
                    a.get("attempt"),
                    a.get("version"),
                    render.when(a.get("started_at")),
                    a.get("outcome"),
                    a.get("duration_ms"),
                )
                for a in event.get("attempt_log") or []
            ],
            title="attempts",
        ),
    )
    for line in error.get("trace") or []:
        typer.echo(str(line).rstrip("\n"), err=True)


@dlq_app.command("redrive")
def redrive(
    event_id: Annotated[
        str | None, typer.Argument(metavar="ID|FN", help="An event id (or FN with --all).")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every dead event (of FN, if given).")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Queue dead events again: `turnout dlq redrive ID`, `turnout dlq redrive --all [FN]`."""
    with ApiClient.from_environ() as api:
        if every:
            data = api.post("/v1/events/redrive", params={"function": event_id} if event_id else None)
        elif event_id is None:
            raise typer.BadParameter("give an event id, or --all")
        else:
            data = api.post(api_path("events", event_id, "redrive"))
    if output is Output.json:
        render.print_json(data)
    elif every:
        render.say(f"redrove {render.plural(data['redriven'], 'event')}")
    else:
        render.say(f"redrove {data['id']} ({data['function']}); it is {data['status']}")


@dlq_app.command("purge")
def purge(function: FunctionOpt = None, output: OutputOption = Output.table) -> None:
    """Delete dead events for good (of FN, or all)."""
    params = {"status": "dead"} | ({"function": function} if function else {})
    with ApiClient.from_environ() as api:
        data = api.call("DELETE", "/v1/events", params=params).body
    if output is Output.json:
        render.print_json(data)
    else:
        render.say(f"purged {render.plural(data['purged'], 'event')}")
