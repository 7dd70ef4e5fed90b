"""`turnout diff`: what changed between two versions, the draft, or single-version aliases."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.syntax import Syntax
from rich.text import Text

from turnout.cli import render
from turnout.cli.aliases import FunctionArg
from turnout.cli.client import ApiClient, api_path
from turnout.cli.functions import LATEST, PANEL
from turnout.cli.render import Output, OutputOption

SECTIONS = (("config", "configuration"), ("environment", "environment"), ("dependencies", "dependencies"))


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(diff)


def diff(
    function: FunctionArg,
    a: Annotated[str, typer.Argument(metavar="A", help="A version (3), an alias (prod) or $LATEST.")],
    b: Annotated[str, typer.Argument(metavar="[B]", help="What to compare A with.")] = LATEST,
    output: OutputOption = Output.table,
) -> None:
    """Compare code, configuration, environment and dependencies of A and B.

    Examples: `turnout diff hello 1 2`, `turnout diff hello prod` (prod against the draft, $LATEST).
    Secret values are masked; a changed secret still shows as changed.
    """
    with ApiClient.from_environ() as api:
        data = api.get(api_path("functions", function, "diff"), **{"from": a, "to": b})
    if output is Output.json:
        render.print_json(data)
    else:
        show_diff(data)


def show_diff(data: dict[str, Any]) -> None:
    before, after = data["from"], data["to"]
    if data["identical"]:
        render.say(
            f"identical: {before} and {after} have the same code, configuration, environment and dependencies"
        )
        return
    render.say(f"{data['function']}: {before} → {after}", style="bold")
    for key, title in SECTIONS:
        changes = data[key]
        if changes:
            rows = [(c["key"], _value(c["before"]), _value(c["after"])) for c in changes]
            render.show(render.table(["key", before, after], rows, title=title))
    if not data["code"]:
        render.say("code: identical")
    for change in data["code"]:
        render.say(f"{change['status']} {change['path']}", style="bold")
        if change["binary"] or not change["diff"]:
            render.say("  (binary or large file: contents not shown)", style="dim")
        else:
            text = change["diff"].rstrip("\n")
            render.show(Syntax(text, "diff", word_wrap=True, background_color="default"))


def _value(value: Any) -> Any:
    if value is None:
        return Text("(unset)", style="dim")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
