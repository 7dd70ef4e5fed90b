"""`turnout serve`: run the control plane (the heavy server imports happen only here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from turnout.cli.client import CliError

PANEL = "Server"


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(serve)


def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (env TURNOUT_HOST, default 127.0.0.1).", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port to listen on (env TURNOUT_PORT, default 8420).", show_default=False),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            show_default=False,
            help="Folder for the database, bundles and admin token (env TURNOUT_DATA_DIR, default .turnout).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            show_default=False,
            help="SQLAlchemy URL of the metadata store, e.g. postgresql+psycopg://... "
            "(env TURNOUT_DATABASE_URL, default SQLite in the data folder).",
        ),
    ] = None,
) -> None:
    """Run Turnout on this machine. Flags win over TURNOUT_* variables (see docs/settings.md).

    At first start it writes an admin token to DATA_DIR/admin-token; the other commands read it from
    there when TURNOUT_TOKEN is not set. Example: `turnout serve --port 8420`.
    """
    from turnout.errors import TurnoutError
    from turnout.settings import Settings

    try:
        settings = Settings.from_environ(
            os.environ, host=host, port=port, data_dir=data_dir, database_url=database_url
        )
        from turnout.server import serve as run

        run(settings)
    except TurnoutError as error:  # a setting, or the sandbox TURNOUT_SANDBOX=require asks for
        raise CliError(error.code, error.message) from error
