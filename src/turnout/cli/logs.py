"""`turnout logs`: what a function printed and logged, invocation by invocation, on every node (and
`--follow`). Nodes that did not answer are named in a warning on stderr; the call still succeeds."""

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

    Each record is a line `time \\[version] node request-id duration`, then the text (the node when
    there are several). Records of every node come merged by time; a node that does not answer is named
    in a warning on stderr.
    Without --follow it prints the newest --limit records; -o json prints one JSON record per line.
    Examples: `turnout logs hello --since 10m`, `turnout logs hello -v 3 --follow`.
    """
    params: dict[str, Any] = {"version": version, "since": since, "request_id": request_id, "limit": limit}
    path = api_path("functions", function, "logs")
    with ApiClient.from_environ() as api:
        page = api.get(path, **params)
        missing = _warn(page, set())
        named = len(page.get("nodes") or []) + len(missing) > 1  # one node: no node names needed
        _show(page["records"], output, named)
        if not follow:
            return
        params["since"] = None  # the cursor says where to go on from
        try:
            while True:
                time.sleep(POLL_SECONDS)
                page = api.get(path, **params, after=page["next"])
                missing = _warn(page, missing)
                _show(page["records"], output, named)
        except KeyboardInterrupt:
            return


def _warn(page: dict[str, Any], before: set[str]) -> set[str]:
    """Warn on stderr about nodes whose records are missing (again only when that set changes)."""
    missing = {str(m.get("node")): str(m.get("reason", "")) for m in page.get("missing_nodes") or []}
    if set(missing) != before:
        for node, reason in sorted(missing.items()):
            typer.echo(f"warning: node {node} {reason}: its records are not shown", err=True)
        for node in sorted(before - set(missing)):
            typer.echo(f"note: node {node} answers again", err=True)
    return set(missing)


def _show(records: list[dict[str, Any]], output: Output, named: bool) -> None:
    for record in records:
        if output is Output.json:
            typer.echo(json.dumps(record, ensure_ascii=False))
            continue
        typer.echo(header(record, named))
        text = str(record.get("text") or "").rstrip("\n")
        if text:
            typer.echo(text)


def header(record: dict[str, Any], named: bool = False) -> str:
    """``2024-05-01T12:00:00.123Z [3] node-a 0c6f… 12.5 ms (cold start 80.1 ms) Function.Unhandled``

    (``node-a``, the node, only when ``named``: several nodes answer)."""
    node = f" {record['node']}" if named and record.get("node") else ""
    line = f"{record.get('time')} [{record.get('version')}]{node} {record.get('request_id')}"
    line += f" {float(record.get('duration_ms') or 0):.1f} ms"
    if "init_ms" in record:
        line += f" (cold start {float(record['init_ms']):.1f} ms)"
    if record.get("error"):
        line += f" {record['error']}"
    return line
