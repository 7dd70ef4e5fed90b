"""`turnout resource set|ls|describe|history`: shared resources and the compatibility guards."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from turnout.cli import render
from turnout.cli.client import ApiClient, api_path
from turnout.cli.render import Output, OutputOption

PANEL = "Aliases"
resource_app = typer.Typer(
    help="Shared resources (a DB schema, a message format) and the versions that require them.",
    no_args_is_help=True,
)
NameArg = Annotated[str, typer.Argument(metavar="RESOURCE", help="The resource's name, e.g. orders-db.")]


def register(app: typer.Typer) -> None:
    app.add_typer(resource_app, name="resource", rich_help_panel=PANEL)


def clash_line(c: dict[str, Any]) -> str:
    version = c["version"] if c["version"] == "$LATEST" else f"v{c['version']}"
    via = f" ← {', '.join(c['via'])}" if c.get("via") else ""
    return f"{c['function']} {version} requires {c['resource']} {c['requires']}{via}"


@resource_app.command("set")
def set_resource(
    name: NameArg,
    version: Annotated[
        str, typer.Option("--version", metavar="V", help="Its version now (PEP 440: 7, 1.2).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why: kept in the resource's history.")] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Move it even though versions carrying traffic require another range (refused with "
            "Incompatible otherwise); the override is kept in its history.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the live versions the move would leave out of range.")
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Record a shared resource's current version (creating it), checked against live versions.

    Examples: `turnout resource set orders-db --version 7 --reason "migration 0042"`,
    `turnout resource set orders-db --version 7 --dry-run`.
    """
    body = {"version": version, "reason": reason, "force": force, "dry_run": dry_run}
    with ApiClient.from_environ() as api:
        data = api.put(api_path("resources", name), json=body)
    if output is Output.json:
        render.print_json(data)
        return
    incompatible = [clash_line(c) for c in data["incompatible"]]
    before = data["before"] or "(new)"
    if dry_run:
        render.say(f"dry run: {name} {before} → {version}; nothing written")
        if incompatible:
            render.say(
                f"{len(incompatible)} live version(s) would be out of range (refused without --force):"
            )
            for line in incompatible:
                render.say(f"  {line}")
        else:
            render.say("no live version would be out of range")
        return
    if not data["changed"]:
        render.say(f"{name} is already {data['version']}")
        return
    render.say(f"{name}: {before} → {data['version']}")
    if data["forced"]:
        render.say("forced past the compatibility guard; out of range now:")
        for line in incompatible:
            render.say(f"  {line}")


@resource_app.command("ls")
def list_resources(output: OutputOption = Output.table) -> None:
    """Every shared resource and its current version."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("resources"))
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (r["name"], r["version"], r["updated_by"], render.when(r["updated_at"])) for r in data["resources"]
    ]
    render.show(render.table(["resource", "version", "set by", "updated"], rows))


@resource_app.command("describe")
def describe_resource(name: NameArg, output: OutputOption = Output.table) -> None:
    """A resource's version and the live versions that require it (in range or not)."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("resources", name))
    if output is Output.json:
        render.print_json(data)
        return
    users = [
        ("" if u["ok"] else "OUT OF RANGE: ") + clash_line({**u, "resource": name})
        for u in data["required_by"]
    ]
    render.show(
        render.fields(
            [
                ("resource", data["name"]),
                ("version", data["version"]),
                ("set by", data["updated_by"]),
                ("updated", render.when(data["updated_at"])),
                ("required by", "\n".join(users) or "no live version requires it"),
            ]
        )
    )


@resource_app.command("history")
def resource_history(
    name: NameArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many moves, newest first.")] = 100,
    output: OutputOption = Output.table,
) -> None:
    """Who moved a resource, when, from which version to which, and why (newest first)."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("resources", name, "history"), limit=limit)
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (
            render.when(c["at"]),
            c["actor"],
            f"{c['before'] or '-'} → {c['after']}",
            "yes" if c["forced"] else "",
            c["reason"],
        )
        for c in data["history"]
    ]
    render.show(render.table(["when", "actor", "from → to", "forced", "reason"], rows))
