"""The `turnout` command: a client of the HTTP API (plus `serve`, which runs the server).

Imports stay light here: httpx is loaded on the first request, and the server's dependencies
(FastAPI, SQLAlchemy, uvicorn) only by `turnout serve`, so `turnout --help` is quick.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from turnout.cli import (
    aliases,
    deployment,
    diff,
    dlq,
    functions,
    invoke,
    logs,
    nodes,
    provision,
    release,
    resources,
    rollout,
    routes,
    schedules,
    secrets,
    server,
    tokens,
)
from turnout.cli.client import CliError

HELP = """Turnout: versions, aliases and safe updates for Python functions.

Commands talk to the server at TURNOUT_URL (default http://127.0.0.1:$TURNOUT_PORT, port 8420) \
with the token in TURNOUT_TOKEN (default: the admin token that `turnout serve` wrote to \
$TURNOUT_DATA_DIR/admin-token, i.e. .turnout/admin-token).

Read commands take -o json for scripts. Errors print `error: <Code>: <message>` and exit 1.
"""


class TurnoutGroup(TyperGroup):
    """Shows a :class:`CliError` as one line on stderr and exits 1, instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            typer.echo(f"error: {error.code}: {error.message}", err=True)
            raise typer.Exit(1) from error


app = typer.Typer(
    name="turnout",
    cls=TurnoutGroup,
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
server.register(app)
deployment.register(app)
functions.register(app)
diff.register(app)
invoke.register(app)
logs.register(app)
nodes.register(app)
provision.register(app)
aliases.register(app)
rollout.register(app)
release.register(app)
functions.register_cleanup(app)
tokens.register(app)
secrets.register(app)
routes.register(app)
schedules.register(app)
resources.register(app)
dlq.register(app)


def main() -> None:
    app(prog_name="turnout")
