"""`turnout secrets rotate-key`: the key that seals secret environment values (needs the admin token)."""

from __future__ import annotations

import typer

from turnout.cli import render
from turnout.cli.client import ApiClient
from turnout.cli.render import Output, OutputOption

secrets_app = typer.Typer(
    help="The key that seals secret environment values at rest (needs the admin token).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets", rich_help_panel="Access")


@secrets_app.command("rotate-key")
def rotate_key(output: OutputOption = Output.table) -> None:
    """Seal every stored secret under a new key, in one transaction, and replace the key file.

    The server writes the new key where the old one was (TURNOUT_SECRET_KEY_FILE or
    DATA_DIR/secret-key). In a cluster, copy that file to every other node and restart them.
    Example: `turnout secrets rotate-key`.
    """
    with ApiClient.from_environ() as api:
        data = api.post("/v1/secrets/rotate-key")
    if output is Output.json:
        render.print_json(data)
        return
    render.note(
        f"re-sealed {data['resealed_values']} secret values under a new key, now in {data['key_file']}; "
        "back it up (the old key no longer opens anything)"
    )
