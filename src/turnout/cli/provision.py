"""`turnout provision` (warm workers kept per alias or version), `turnout concurrency` (a function's own
limit) and `turnout workers` (what runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from turnout.cli.client import ApiClient
from turnout.cli.functions import split_target
from turnout.cli.render import Output, OutputOption, print_json, show, table


def register(app: typer.Typer) -> None:
    app.command("provision", rich_help_panel="Run")(provision)
    app.command("concurrency", rich_help_panel="Run")(concurrency)
    app.command("workers", rich_help_panel="Run")(workers)


def provision(
    target: Annotated[str, typer.Argument(metavar="FN[:QUALIFIER]", help="e.g. thumbs:prod or thumbs:3")],
    count: Annotated[
        int | None, typer.Argument(metavar="[WORKERS]", help="Warm workers to keep; 0 removes the setting.")
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """Keep warm workers for an alias (spread over its versions by weight) or a version.

    `turnout provision thumbs:prod 4` keeps 4 workers warm; `turnout provision thumbs` lists settings.
    Warm workers never scale to zero, and an alias moved onto a version warms it before traffic arrives.
    """
    function, qualifier = split_target(target)
    with ApiClient.from_environ() as client:
        if count is None:
            if qualifier is not None:
                raise typer.BadParameter("give WORKERS to set, or no qualifier to list")
            body = client.get(f"/v1/functions/{function}/provisioned")
        elif qualifier is None:
            raise typer.BadParameter("name an alias or version: FN:QUALIFIER WORKERS")
        else:
            body = client.put(f"/v1/functions/{function}/provisioned/{qualifier}", json={"workers": count})
    if output is Output.json:
        print_json(body)
        return
    rows = sorted(body["provisioned"].items())
    show(table(["qualifier", "warm workers"], rows, title=f"provisioned concurrency of {function}"))


def concurrency(
    function: Annotated[str, typer.Argument(metavar="FN")],
    reserved: Annotated[
        int | None,
        typer.Argument(metavar="[LIMIT]", help="Invocations at once per node; 0 stops them all."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the server-wide limit.")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Reserve concurrency: the function's own limit of invocations at once (per node), instead of the
    server-wide TURNOUT_FUNCTION_CONCURRENCY. Past it, invocations answer 429 Throttled.

    `turnout concurrency thumbs 50` sets it, `turnout concurrency thumbs 0` stops every invocation (an
    emergency brake; async events wait), `--clear` removes it, and `turnout concurrency thumbs` shows it.
    """
    if clear and reserved is not None:
        raise typer.BadParameter("give a LIMIT or --clear, not both")
    path = f"/v1/functions/{function}/concurrency"
    with ApiClient.from_environ() as client:
        if clear:
            body = client.call("DELETE", path).body
        elif reserved is not None:
            body = client.put(path, json={"reserved": reserved})
        else:
            body = client.get(path)
    if output is Output.json:
        print_json(body)
        return
    kind = "server-wide" if body["reserved"] is None else "reserved"
    show(table(["function", "limit", "kind"], [(function, body["limit"], kind)], title="concurrency"))


def workers(
    function: Annotated[str, typer.Argument(metavar="FN")],
    output: OutputOption = Output.table,
) -> None:
    """The function's worker pools on the server: version, idle and busy workers, minimum, requests queued
    for a concurrency slot now and the p99 of recent queue waits, pids."""
    with ApiClient.from_environ() as client:
        body = client.get(f"/v1/functions/{function}/workers")
    if output is Output.json:
        print_json(body)
        return
    rows = [
        (
            p["version"],
            p["pool"][:8],
            p["idle"],
            p["busy"],
            p["min_warm"],
            p.get("queued", 0),
            "-" if p.get("queue_wait_p99_ms") is None else f"{p['queue_wait_p99_ms']:.0f}",
            " ".join(map(str, p["pids"])),
        )
        for p in body["pools"]
    ]
    columns = ["version", "pool", "idle", "busy", "min warm", "queued", "wait p99 ms", "idle pids"]
    show(table(columns, rows, title=f"workers of {function}"))
