"""`turnout token create|ls|rm`: scoped API tokens (needs the admin token)."""

from __future__ import annotations

from typing import Annotated

import typer

from turnout.cli import render
from turnout.cli.client import ApiClient, api_path
from turnout.cli.render import Output, OutputOption

SCOPES = ("admin", "deploy", "invoke", "read")
token_app = typer.Typer(
    help="Scoped API tokens for people and CI (needs the admin token).", no_args_is_help=True
)
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The token's name, e.g. ci-deploy.")]


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token", rich_help_panel="Access")


@token_app.command("create")
def create_token(
    name: NameArg,
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            show_default=False,
            help=f"Repeatable: one of {', '.join(SCOPES)} (deploy includes read; admin includes all).",
        ),
    ],
    output: OutputOption = Output.table,
) -> None:
    """Make a token. It is shown once: only its hash is kept.

    Example: `turnout token create ci --scope deploy`. The token alone goes to stdout, so
    `TOKEN=$(turnout token create ci --scope deploy)` works.
    """
    with ApiClient.from_environ() as api:
        data = api.post("/v1/tokens", json={"name": name, "scopes": scope})
    if output is Output.json:
        render.print_json(data)
        return
    scopes = ", ".join(data["scopes"])
    render.note(f"token {data['name']} (scopes: {scopes}); keep it now, it is shown only once:")
    typer.echo(data["token"])


@token_app.command("ls")
def list_tokens(output: OutputOption = Output.table) -> None:
    """List tokens by name and scopes (never their values)."""
    with ApiClient.from_environ() as api:
        data = api.get("/v1/tokens")
    if output is Output.json:
        render.print_json(data)
        return
    rows = [(t["name"], ", ".join(t["scopes"])) for t in data["tokens"]]
    render.show(render.table(["name", "scopes"], rows))


@token_app.command("rm")
def remove_token(name: NameArg) -> None:
    """Delete a token; requests that send it are refused from now on."""
    with ApiClient.from_environ() as api:
        api.delete(api_path("tokens", name))
    render.say(f"deleted token {name}")
