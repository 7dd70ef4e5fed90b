"""`turnout publish|versions|describe|gc|delete`: a function's draft and its immutable versions."""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from turnout.cli import render
from turnout.cli.aliases import FunctionArg, alias_fields
from turnout.cli.client import ApiClient, api_path
from turnout.cli.render import Output, OutputOption

if TYPE_CHECKING:
    from rich.table import Table

PANEL = "Functions and versions"
LATEST = "$LATEST"


def register(app: typer.Typer) -> None:
    for command in (publish, versions, describe):
        app.command(rich_help_panel=PANEL)(command)


def register_cleanup(app: typer.Typer) -> None:
    for command in (gc, delete):
        app.command(rich_help_panel=PANEL)(command)


def split_target(target: str) -> tuple[str, str | None]:
    """``fn:qualifier`` -> ``("fn", "qualifier")``; ``fn`` -> ``("fn", None)``."""
    function, sep, qualifier = target.partition(":")
    return function, (qualifier if sep and qualifier != LATEST else None)


def publish(
    function: FunctionArg,
    description: Annotated[
        str | None, typer.Option(help="Describes the version (default: the function's description).")
    ] = None,
    code_sha256: Annotated[
        str | None,
        typer.Option("--code-sha256", help="Publish only if the draft's code still has this sha256."),
    ] = None,
    revision_id: Annotated[
        str | None, typer.Option("--revision-id", help="Publish only if the draft is still at this revision.")
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """Snapshot the draft ($LATEST) as a new immutable version.

    If nothing changed since the newest version, that version is returned instead of a new one.
    Example: `turnout publish hello --description "faster thumbnails"`.
    """
    given = {"description": description, "code_sha256": code_sha256, "revision_id": revision_id}
    body = {k: v for k, v in given.items() if v is not None}
    with ApiClient.from_environ() as api:
        data = api.post(api_path("functions", function, "versions"), json=body)
    if output is Output.json:
        render.print_json(data)
        return
    render.say(version_text(function, data))


def version_text(function: str, version: dict[str, Any]) -> str:
    number = version["version"]
    if version["created"]:
        return f"published version {number} of {function}"
    return f"version {number} of {function} unchanged: nothing changed since it was published"


def versions(function: FunctionArg, output: OutputOption = Output.table) -> None:
    """List a function's versions, with the aliases that point at each.

    Example: `turnout versions hello -o json`.
    """
    found: list[dict[str, Any]] = []
    with ApiClient.from_environ() as api:
        after: int | None = None
        while True:
            page = api.get(api_path("functions", function, "versions"), after=after)
            found += page["versions"]
            after = page["next"]
            if after is None:
                break
        if output is Output.json:
            render.print_json({"versions": found, "next": None})
            return
        aliases = api.get(api_path("functions", function, "aliases"))["aliases"]
    pointing: dict[str, list[str]] = defaultdict(list)
    for alias in aliases:
        split = len(alias["routing"]) > 1
        for route in alias["routing"]:
            share = f" ({render.percent(route['weight'])})" if split else ""
            pointing[route["version"]].append(alias["name"] + share)
    rows = [
        (
            str(v["version"]),
            render.when(v["created_at"]),
            render.short(v["code_sha256"]),
            v["config"]["handler"],
            f"{v['config']['timeout']}s",
            f"{v['config']['memory']} MB",
            v["description"],
            ", ".join(pointing.get(str(v["version"]), [])),
        )
        for v in found
    ]
    columns = ["version", "created", "code", "handler", "timeout", "memory", "description", "aliases"]
    render.show(render.table(columns, rows))


def describe(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FUNCTION[:QUALIFIER]",
            help="hello (the draft, also hello:$LATEST), hello:3 (version 3) or hello:prod (an alias).",
        ),
    ],
    reveal: Annotated[bool, typer.Option(help="Show secret values unmasked (needs an admin token).")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Show a function's draft, one version, or an alias.

    Examples: `turnout describe hello`, `turnout describe hello:2`, `turnout describe hello:prod -o json`.
    """
    function, qualifier = split_target(target)
    flag = "true" if reveal else None
    with ApiClient.from_environ() as api:
        if qualifier is None:
            data = api.get(api_path("functions", function), reveal=flag)
        elif qualifier.isdigit():
            data = api.get(api_path("functions", function, "versions", qualifier), reveal=flag)
        else:
            data = api.get(api_path("functions", function, "aliases", qualifier), reveal=flag)
    if output is Output.json:
        render.print_json(data)
    elif qualifier is None:
        render.show(function_fields(data))
    elif qualifier.isdigit():
        render.show(version_fields(data))
    else:
        render.show(alias_fields(data))


def _config_rows(config: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("handler", config["handler"]),
        ("description", config["description"]),
        ("timeout", f"{config['timeout']}s"),
        ("memory", f"{config['memory']} MB"),
        ("environment", render.pairs(config["environment"])),
        *(
            [("requires", "\n".join(f"{k} {v}" for k, v in config["requires"].items()))]
            if config.get("requires")
            else []
        ),
    ]


def function_fields(data: dict[str, Any]) -> Table:
    count, latest = data["versions"]["count"], data["versions"]["latest"]
    return render.fields(
        [
            ("function", data["name"]),
            ("code sha256", data["code_sha256"]),
            *_config_rows(data["config"]),
            ("dependencies", "\n".join(data["dependencies"])),
            ("draft revision", data["revision_id"]),
            ("versions", f"{count} (latest {latest})" if count else "none published"),
            ("aliases", "\n".join(f"{a['name']} → {a['target']}" for a in data["aliases"])),
            ("triggers", "\n".join(render.trigger_lines(data.get("triggers") or {}))),
            ("created", render.when(data["created_at"])),
            ("updated", render.when(data["updated_at"])),
        ]
    )


def version_fields(data: dict[str, Any]) -> Table:
    return render.fields(
        [
            ("function", data["function"]),
            ("version", data["version"]),
            ("code sha256", data["code_sha256"]),
            *_config_rows(data["config"]),
            ("dependencies", "\n".join(data["dependencies"])),
            ("version description", data["description"]),
            ("fingerprint", data["fingerprint"]),
            ("created", render.when(data["created_at"])),
            ("triggers", "\n".join(render.trigger_lines(data.get("triggers") or {}))),
        ]
    )


def gc(
    function: FunctionArg,
    keep: Annotated[
        int,
        typer.Option(
            "--keep",
            metavar="N",
            min=0,
            show_default=False,
            help="How many of the newest versions to keep, besides those an alias points at.",
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be deleted.")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Delete old versions no alias points at, and code and dependency layers nothing uses any more.

    Example: `turnout gc hello --keep 5 --dry-run`.
    """
    with ApiClient.from_environ() as api:
        data = api.post(api_path("functions", function, "gc"), json={"keep": keep, "dry_run": dry_run})
    if output is Output.json:
        render.print_json(data)
        return
    verb = "would delete" if dry_run else "deleted"
    deleted = ", ".join(str(v) for v in data["deleted_versions"]) or "none"
    render.say(f"{function}: {verb} versions: {deleted}")
    render.say(f"kept versions: {', '.join(str(v) for v in data['kept_versions']) or 'none'}")
    for version, aliases in data["pinned"].items():
        render.say(f"  version {version} is kept for alias(es) {', '.join(aliases)}")
    render.say(f"{verb} {render.plural(len(data['deleted_blobs']), 'unused bundle')}")
    render.say(f"{verb} {render.plural(len(data['deleted_layers']), 'unused dependency layer')}")
    if dry_run:
        render.note("dry run: nothing was deleted")


def delete(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FUNCTION[:VERSION]", help="hello (the whole function) or hello:3 (one version)."
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (required when stdin is not a terminal).")
    ] = False,
) -> None:
    """Delete a whole function (versions, aliases, history), or one version no alias points at.

    Examples: `turnout delete hello:3`, `turnout delete hello --yes`.
    """
    function, qualifier = split_target(target)
    if qualifier is not None and not qualifier.isdigit():
        raise typer.BadParameter(
            f"{qualifier!r} is not a version number; to delete an alias use `turnout alias rm {function} "
            f"{qualifier}`",
            param_hint="FUNCTION[:VERSION]",
        )
    with ApiClient.from_environ() as api:
        if qualifier is not None:
            api.delete(api_path("functions", function, "versions", qualifier))
            render.say(f"deleted version {qualifier} of {function}")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise typer.BadParameter(
                    f"deleting function {function} needs --yes when stdin is not a terminal",
                    param_hint="--yes",
                )
            typer.confirm(
                f"Delete function {function} with all its versions, aliases and history?", abort=True
            )
        api.delete(api_path("functions", function))
    render.say(f"deleted function {function} with its versions, aliases and history")
