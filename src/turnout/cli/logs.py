"""`turnout logs`: what a function printed and logged, invocation by invocation (and `--follow`)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from turnout.cli.aliases import FunctionArg
from turnout.cli.client import ApiClient, api_path
from turnout.cli.render import Output, OutputOption

POLL_SECONDS = 0.5


def register(app: typer.Typer) -> None:
    app.command("logs", rich_help_panel="Run")(logs)


def logs(
    function: FunctionArg,
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Only this version (a number or $LATEST).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only records since this time: an age (30s, 10m, 2h, 1d) or an ISO 8601 time."),
    ] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Only this invocation.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many records.")] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new records until Ctrl-C.")
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Print a function's invocation logs: its stdout, stderr and `logging` output, oldest first.

    Each record is a line `time \\[version] request-id duration`, then the text.
    Without --follow it prints the newest --limit records; -o json prints one JSON record per line.
    Examples: `turnout logs hello --since 10m`, `turnout logs hello -v 3 --follow`.
    """
    params: dict[str, Any] = {"version": version, "since": since, "request_id": request_id, "limit": limit}
    path = api_path("functions", function, "logs")
    with ApiClient.from_environ() as api:
        page = api.get(path, **params)
        _show(page["records"], output)
        if not follow:
            return
        params["since"] = None  # the cursor says where to go on from
        try:
            while True:
                time.sleep(POLL_SECONDS)
                page = api.get(path, **params, after=page["next"])
                _show(page["records"], output)
        except KeyboardInterrupt:
            return


def _show(records: list[dict[str, Any]], output: Output) -> None:
    for record in records:
        if output is Output.json:
            typer.echo(json.dumps(record, ensure_ascii=False))
            continue
        typer.echo(header(record))
        text = str(record.get("text") or "").rstrip("\n")
        if text:
            typer.echo(text)


def header(record: dict[str, Any]) -> str:
    """``2024-05-01T12:00:00.123Z [3] 0c6f…-request-id 12.5 ms (cold start 80.1 ms) Function.Unhandled``"""
    line = f"{record.get('time')} [{record.get('version')}] {record.get('request_id')}"
    line += f" {float(record.get('duration_ms') or 0):.1f} ms"
    if "init_ms" in record:
        line += f" (cold start {float(record['init_ms']):.1f} ms)"
    if record.get("error"):
        line += f" {record['error']}"
    return line
