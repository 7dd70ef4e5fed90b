"""`turnout alias set|ls|rm|history`, `turnout swap`, `turnout rollback`: moving named pointers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from turnout.cli import render
from turnout.cli.client import ApiClient, CliError, api_path
from turnout.cli.render import Output, OutputOption

if TYPE_CHECKING:
    from rich.table import Table

    from turnout.cli.client import Reply

PANEL = "Aliases"
alias_app = typer.Typer(
    help="Named pointers (prod, staging) to one version, or to several with weights.", no_args_is_help=True
)

FunctionArg = Annotated[str, typer.Argument(metavar="FUNCTION", help="The function's name.")]
AliasArg = Annotated[str, typer.Argument(metavar="ALIAS", help="The alias's name, e.g. prod.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why: kept in the alias's history.")]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Abort a running rollout of this alias first (without it the change is refused with "
        "RolloutInProgress), and send traffic to a version even if it does not accept a shared resource's "
        "version (refused with Incompatible otherwise; the override is kept in the alias's history).",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(alias_app, name="alias", rich_help_panel=PANEL)
    app.command(rich_help_panel=PANEL)(swap)
    app.command(rich_help_panel=PANEL)(rollback)


def find_alias(api: ApiClient, function: str, alias: str) -> dict[str, Any] | None:
    """The alias's JSON, or ``None`` if it does not exist (yet)."""
    try:
        found: dict[str, Any] = api.get(api_path("functions", function, "aliases", alias))
    except CliError as error:
        if error.code == "AliasNotFound":
            return None
        raise
    return found


def force_param(force: bool) -> str | None:
    """The ``force`` query parameter of the alias mutations: ``"true"`` aborts a running rollout first."""
    return "true" if force else None


def point_alias(
    api: ApiClient,
    function: str,
    alias: str,
    body: dict[str, Any],
    if_match: str | None = None,
    force: bool = False,
) -> tuple[str | None, Reply]:
    """PUT the alias; returns its target before the change (``None`` if new) and the API's reply.

    ``force``: abort a rollout of the alias that is running (otherwise the API refuses: RolloutInProgress).
    """
    before = find_alias(api, function, alias)
    headers = {"If-Match": f'"{if_match}"'} if if_match else None
    reply = api.call(
        "PUT",
        api_path("functions", function, "aliases", alias),
        params={"force": force_param(force)},
        json=body,
        headers=headers,
    )
    return (None if before is None else str(before["target"])), reply


def move_text(function: str, alias: str, before: str | None, after: str) -> str:
    if before is None:
        return f"alias {alias} of {function}: created → {after}"
    if before == after:
        return f"alias {alias} of {function}: already at {after}"
    return f"alias {alias} of {function}: {before} → {after}"


def alias_fields(data: dict[str, Any]) -> Table:
    routes = "\n".join(f"{r['version']}: {render.percent(r['weight'])}" for r in data["routing"])
    return render.fields(
        [
            ("alias", data["name"]),
            ("function", data["function"]),
            ("target", data["target"]),
            ("weights", routes),
            ("description", data["description"]),
            ("settings", render.pairs(data["settings"])),
            ("secret keys", ", ".join(data["secret_keys"])),
            ("revision", data["revision_id"]),
            ("created", render.when(data["created_at"])),
            ("updated", render.when(data["updated_at"])),
            ("triggers", "\n".join(render.trigger_lines(data.get("triggers") or {}))),
        ]
    )


def parse_targets(targets: list[str]) -> dict[str, Any]:
    """``["3"]`` → ``{"version": "3"}``; ``["3=70", "4=30"]`` → ``{"weights": {"3": "70", "4": "30"}}``."""
    if len(targets) == 1 and "=" not in targets[0]:
        return {"version": targets[0].strip()}
    weights: dict[str, str] = {}
    for target in targets:
        version, sep, share = (part.strip() for part in target.partition("="))
        if not sep or not version or not share:
            raise typer.BadParameter(
                f"{target!r}: give one version (3) or versions with percentages (3=70 4=30)",
                param_hint="TARGET",
            )
        if version in weights:
            raise typer.BadParameter(f"version {version} is given twice", param_hint="TARGET")
        weights[version] = share.removesuffix("%")
    return {"weights": weights}


def parse_pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=flag)
        pairs[key.strip()] = text
    return pairs


@alias_app.command("set")
def set_alias(
    function: FunctionArg,
    alias: AliasArg,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET",
            help="A version (3, or $LATEST), or versions with percentages that sum to 100 (3=70 4=30, "
            "up to 2 decimals). Omit to change only the settings or description.",
            show_default=False,
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            metavar="KEY=VALUE",
            show_default=False,
            help="An environment override bound to the alias (it stays when versions move or aliases "
            "swap). Repeatable; giving any replaces all of the alias's settings.",
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            metavar="KEY=VALUE",
            show_default=False,
            help="Like --setting, and the value is masked whenever it is shown.",
        ),
    ] = None,
    clear_settings: Annotated[
        bool, typer.Option("--clear-settings", help="Remove all of the alias's settings.")
    ] = False,
    description: Annotated[str | None, typer.Option(help="What the alias is for.")] = None,
    reason: ReasonOption = "",
    if_match: Annotated[
        str | None,
        typer.Option(
            "--if-match", metavar="REVISION", help="Change it only if the alias's revision is still this one."
        ),
    ] = None,
    force: ForceOption = False,
    output: OutputOption = Output.table,
) -> None:
    """Create or move an alias; set its settings.

    Examples: `turnout alias set hello prod 3`, `turnout alias set hello prod 3=90 4=10`,
    `turnout alias set hello prod --setting LOG_LEVEL=debug --secret DB_PASSWORD=s3cret`.
    """
    body: dict[str, Any] = parse_targets(targets) if targets else {}
    settings, secrets = parse_pairs(setting or [], "--setting"), parse_pairs(secret or [], "--secret")
    if (settings or secrets) and clear_settings:
        raise typer.BadParameter("give --setting/--secret or --clear-settings, not both")
    if settings or secrets or clear_settings:
        body["settings"] = {**settings, **secrets}
        body["secret_keys"] = sorted(secrets)
    if description is not None:
        body["description"] = description
    if not body:
        raise typer.BadParameter("nothing to change: give a TARGET, --setting, --secret or --description")
    body["reason"] = reason
    with ApiClient.from_environ() as api:
        before, reply = point_alias(api, function, alias, body, if_match, force=force)
    if output is Output.json:
        render.print_json(reply.body)
        return
    render.say(move_text(function, alias, before, reply.body["target"]))
    render.note(f"revision {reply.body['revision_id']}")


@alias_app.command("ls")
def list_aliases(function: FunctionArg, output: OutputOption = Output.table) -> None:
    """List a function's aliases and where they point."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("functions", function, "aliases"))
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (a["name"], a["target"], a["description"], render.pairs(a["settings"]), render.when(a["updated_at"]))
        for a in data["aliases"]
    ]
    render.show(render.table(["alias", "target", "description", "settings", "updated"], rows))


@alias_app.command("rm")
def remove_alias(
    function: FunctionArg, alias: AliasArg, reason: ReasonOption = "", force: ForceOption = False
) -> None:
    """Delete an alias (its versions stay)."""
    with ApiClient.from_environ() as api:
        path = api_path("functions", function, "aliases", alias)
        api.delete(path, reason=reason or None, force=force_param(force))
    render.say(f"deleted alias {alias} of {function}")


@alias_app.command("history")
def alias_history(
    function: FunctionArg,
    alias: AliasArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many changes, newest first.")] = 100,
    output: OutputOption = Output.table,
) -> None:
    """Who moved an alias, when, from where to where, and why (newest first)."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("functions", function, "aliases", alias, "history"), limit=limit)
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (
            render.when(c["at"]),
            c["action"]
            + (f" with {c['details']['with']}" if c["details"].get("with") else "")
            + (" (forced past guard)" if c["details"].get("forced_past") else ""),
            c["actor"],
            f"{c['before_target'] or '-'} → {c['after_target'] or '-'}",
            c["reason"],
        )
        for c in data["history"]
    ]
    render.show(render.table(["when", "action", "actor", "from → to", "reason"], rows))


def swap(
    function: FunctionArg,
    a: Annotated[str, typer.Argument(metavar="ALIAS_A", help="One alias, e.g. staging.")],
    b: Annotated[str, typer.Argument(metavar="ALIAS_B", help="The other, e.g. prod.")],
    reason: ReasonOption = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Abort a running rollout of either alias first; swap even if a version does not accept "
            "a shared resource's version (kept in the history).",
        ),
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Exchange the targets of two aliases at once (blue/green); their settings stay put.

    Example: `turnout swap hello staging prod`.
    """
    with ApiClient.from_environ() as api:
        body = {"a": a, "b": b, "reason": reason}
        params = {"force": force_param(force)}
        data = api.post(api_path("functions", function, "swap"), json=body, params=params)
    if output is Output.json:
        render.print_json(data)
        return
    first, second = data["aliases"]
    moved = ", ".join(f"{alias['name']} → {alias['target']}" for alias in (first, second))
    render.say(f"swapped {function}: {moved}")


def rollback(
    function: FunctionArg,
    alias: AliasArg,
    to: Annotated[
        int | None,
        typer.Option(
            "--to", metavar="N", min=1, help="Version to return to; default: the alias's previous target."
        ),
    ] = None,
    reason: ReasonOption = "",
    force: ForceOption = False,
    output: OutputOption = Output.table,
) -> None:
    """Point an alias back where it was before its last move (or at --to N).

    Example: `turnout rollback hello prod`. Rolling back twice returns to where you started.
    """
    with ApiClient.from_environ() as api:
        before = find_alias(api, function, alias)
        body = {"to": to, "reason": reason}
        path = api_path("functions", function, "aliases", alias, "rollback")
        data = api.post(path, json=body, params={"force": force_param(force)})
    if output is Output.json:
        render.print_json(data)
        return
    previous = None if before is None else str(before["target"])
    if previous == data["target"]:
        render.say(f"alias {alias} of {function}: already at {data['target']}")
    else:
        render.say(f"rolled back alias {alias} of {function}: {previous} → {data['target']}")
