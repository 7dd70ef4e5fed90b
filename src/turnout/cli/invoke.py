"""`turnout invoke`: run a function once and print its result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from turnout.cli.client import ApiClient, CliError


def register(app: typer.Typer) -> None:
    app.command("invoke", rich_help_panel="Run")(invoke)


def invoke(
    target: Annotated[
        str, typer.Argument(metavar="FN[:QUALIFIER]", help="e.g. thumbs, thumbs:prod, thumbs:3")
    ],
    data: Annotated[str | None, typer.Option("--data", "-d", help="The event, as JSON text.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the event from a JSON file ('-' for stdin).")
    ] = None,
    routing_key: Annotated[
        str | None, typer.Option("--routing-key", help="Sticky pick: the same key keeps its version.")
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version-override", help="Reach this version through the alias (deploy scope)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print version, request id, cold start.")
    ] = False,
    asynchronous: Annotated[
        bool,
        typer.Option(
            "--async",
            help="Queue the event (retries, dead letters); print its request id. See `turnout dlq`.",
        ),
    ] = False,
) -> None:
    """Invoke a function and print its JSON result.

    Examples: `turnout invoke hello:prod -d '{"name": "Ada"}'`, `turnout invoke hello -f events/example.json`.
    A function error prints its code, message and traceback on stderr and exits 1.
    With `--async` the server answers at once (202) and only the request id is printed.
    """
    payload = _payload(data, file)
    headers = {"Content-Type": "application/json"}
    if asynchronous:
        headers["X-Turnout-Invocation-Type"] = "Event"
    if routing_key is not None:
        headers["X-Turnout-Routing-Key"] = routing_key
    if version is not None:
        headers["X-Turnout-Version-Override"] = str(version)
    with ApiClient.from_environ() as client:
        try:
            reply = client.call("POST", f"/v1/functions/{target}/invoke", content=payload, headers=headers)
        except CliError as error:
            for line in (error.details or {}).get("trace") or []:
                typer.echo(line.rstrip("\n"), err=True)
            raise
    if asynchronous:
        typer.echo(reply.body["request_id"])
        return
    if verbose:
        h = {k.lower(): v for k, v in reply.headers.items()}
        cold = f", cold start {h['x-turnout-init-duration']} ms" if "x-turnout-init-duration" in h else ""
        typer.echo(
            f"version {h.get('x-turnout-version')}, request {h.get('x-turnout-request-id')}{cold}", err=True
        )
    typer.echo(json.dumps(reply.body, indent=2))


def _payload(data: str | None, file: Path | None) -> bytes:
    if data is not None and file is not None:
        raise typer.BadParameter("give --data or --file, not both")
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
    else:
        text = data if data is not None else "{}"
    try:
        json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"the event is not JSON: {exc}") from exc
    return text.encode()
