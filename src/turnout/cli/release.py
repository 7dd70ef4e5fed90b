"""`turnout release create|ls|describe|rollback`: several functions' aliases moved as one.

A release moves the aliases it names (``--set api:prod=12 --set worker:prod=31``) in one transaction, or,
with a strategy or gates, as one rollout whose members move in step and roll back together. Its rollback
returns every alias to where it was before the release, in one transaction too.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from turnout.cli import render
from turnout.cli import rollout_flags as flag
from turnout.cli.client import ApiClient, CliError, api_path
from turnout.cli.render import Output, OutputOption
from turnout.cli.rollout_options import INVALID, StartOptions, start_body

PANEL = "Releases"
ROLLOUT_FIELDS = frozenset(StartOptions.__dataclass_fields__) - {"to"}

release_app = typer.Typer(
    help="Move several functions' aliases as one: at once, or as one rollout; roll them back as one.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The release's name, e.g. checkout.")]


def register(app: typer.Typer) -> None:
    app.add_typer(release_app, name="release", rich_help_panel=PANEL)


def parse_set(text: str) -> dict[str, Any]:
    """``FUNCTION:ALIAS=VERSION`` as the API's member.

    >>> parse_set("api:prod=12")
    {'function': 'api', 'alias': 'prod', 'version': 12}
    """
    target, equals, version = text.partition("=")
    function, colon, alias = target.partition(":")
    function, alias, version = function.strip(), alias.strip(), version.strip()
    if not (equals and colon and function and alias and version.isdigit() and int(version) >= 1):
        raise CliError(INVALID, f"--set {text!r}: expected FUNCTION:ALIAS=VERSION, such as api:prod=12")
    return {"function": function, "alias": alias, "version": int(version)}


def create_body(
    name: str, sets: list[str], reason: str, rollout: dict[str, str | int | bool | None]
) -> dict[str, Any]:
    """The body of ``POST /v1/releases``; ``rollout`` holds the rollout options as typed (None: not given),
    and any one given runs the release as a rollout."""
    if not sets:
        raise CliError(INVALID, "a release needs at least one --set FUNCTION:ALIAS=VERSION")
    members = [parse_set(text) for text in sets]
    seen: set[tuple[str, str]] = set()
    for member in members:
        key = (member["function"], member["alias"])
        if key in seen:
            raise CliError(INVALID, f"--set names {key[0]}:{key[1]} twice; a release moves an alias once")
        seen.add(key)
    body: dict[str, Any] = {"name": name, "members": members, "reason": reason}
    given = {k: v for k, v in rollout.items() if v not in (None, False)}
    if given:
        unknown = set(given) - ROLLOUT_FIELDS
        assert not unknown, unknown
        plan = start_body(StartOptions(to=1, **given))  # type: ignore[arg-type]
        plan.pop("to")
        body["rollout"] = plan
    return body


@release_app.command()
def create(
    name: NameArg,
    sets: Annotated[
        list[str],
        typer.Option(
            "--set",
            metavar="FUNCTION:ALIAS=VERSION",
            help="A member: point FUNCTION's ALIAS at VERSION (repeat for each function).",
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why: kept in the release and every alias's history.")
    ] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Go past the compatibility guard: a member's version (or a rollout's baseline) out of a "
            "shared resource's range is moved anyway, and that is recorded.",
        ),
    ] = False,
    strategy: flag.StrategyOption = None,
    weight: flag.WeightOption = None,
    bake: flag.BakeOption = None,
    step: flag.StepOption = None,
    interval: flag.IntervalOption = None,
    steps: flag.StepsOption = None,
    max_error_rate: flag.MaxErrorRateOption = None,
    max_p99: flag.MaxP99Option = None,
    max_error_increase: flag.MaxErrorIncreaseOption = None,
    max_p99_ratio: flag.MaxP99RatioOption = None,
    min_invocations: flag.MinInvocationsOption = None,
    alpha: flag.AlphaOption = None,
    no_gates: flag.NoGatesOption = False,
    window: flag.WindowOption = None,
    max_hold: flag.MaxHoldOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Move several functions' aliases as one release.

    Example: `turnout release create checkout --set api:prod=12 --set worker:prod=31 --set web:prod=8`.
    With --strategy or a gate, the release runs as one rollout: every member moves in step, and any
    member's failure rolls every member back by itself.
    """  # noqa: D301
    rollout = {
        "strategy": strategy, "weight": weight, "bake": bake, "step": step, "interval": interval,
        "steps": steps, "max_error_rate": max_error_rate, "max_p99": max_p99,
        "max_error_increase": max_error_increase, "max_p99_ratio": max_p99_ratio,
        "min_invocations": min_invocations, "alpha": alpha, "no_gates": no_gates, "window": window,
        "max_hold": max_hold,
    }  # fmt: skip
    body = create_body(name, sets, reason, rollout)
    if force:
        body["force"] = True
    with ApiClient.from_environ() as api:
        data = api.post(api_path("releases"), json=body)
    if output is Output.json:
        render.print_json(data)
        return
    verb = "started release rollout" if data["rollout"] else "released"
    render.say(f"{verb} {data['name']}: {data['state']}")
    render.show(members_table(data))


@release_app.command("ls")
def list_releases(
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many, newest first.")] = 50,
    output: OutputOption = Output.table,
) -> None:
    """The releases, newest first, with their members and states."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("releases"), limit=limit)
    if output is Output.json:
        render.print_json(data)
        return
    rows = [
        (
            r["name"],
            r["state"],
            "rollout" if r["rollout"] else "at once",
            ", ".join(f"{m['function']}:{m['alias']} {m['before']} → {m['after']}" for m in r["members"]),
            render.when(r["created_at"]),
            r["actor"],
        )
        for r in data["releases"]
    ]
    render.show(render.table(["NAME", "STATE", "HOW", "MEMBERS", "CREATED", "BY"], rows))


@release_app.command()
def describe(name: NameArg, output: OutputOption = Output.table) -> None:
    """A release: its state, members (before → after, and their rollouts) and history."""
    with ApiClient.from_environ() as api:
        data = api.get(api_path("releases", name))
    if output is Output.json:
        render.print_json(data)
        return
    render.show(
        render.fields(
            [
                ("name", data["name"]),
                ("state", data["state"]),
                ("how", "rollout" if data["rollout"] else "at once"),
                ("reason", data["reason"] or "-"),
                ("by", data["actor"]),
                ("created", render.when(data["created_at"])),
            ],
            title=f"release {data['name']}",
        )
    )
    render.show(members_table(data))
    rows = [
        (render.when(h["at"]), h.get("event", ""), h["state"], h.get("reason", "")) for h in data["history"]
    ]
    render.show(render.table(["AT", "EVENT", "STATE", "REASON"], rows, title="history"))


@release_app.command()
def rollback(
    name: NameArg,
    reason: Annotated[
        str, typer.Option("--reason", help="Why: kept in the release and every alias's history.")
    ] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also return aliases someone moved since the release (without it the rollback is refused "
            "as a whole with PreconditionFailed), and to versions out of a shared resource's range "
            "(Incompatible).",
        ),
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Return every alias of the release to where it was before it, in one transaction.

    Refused as a whole (nothing moves) when an alias has a rollout running, or was moved since (unless
    --force).
    """
    with ApiClient.from_environ() as api:
        data = api.post(api_path("releases", name, "rollback"), json={"reason": reason, "force": force})
    if output is Output.json:
        render.print_json(data)
        return
    render.say(f"rolled back release {data['name']}: {data['state']}")
    render.show(members_table(data, back=True))


@release_app.command()
def pause(
    name: NameArg,
    reason: Annotated[str, typer.Option("--reason", help="Why: kept in every member's history.")] = "",
    output: OutputOption = Output.table,
) -> None:
    """Hold every member of a release rollout where it is (its gates keep guarding)."""
    _steer(name, "pause", {"reason": reason}, output)


@release_app.command()
def resume(name: NameArg, output: OutputOption = Output.table) -> None:
    """Resume every paused member of a release rollout (also those the compatibility guard held)."""
    _steer(name, "resume", None, output)


@release_app.command()
def abort(
    name: NameArg,
    reason: Annotated[str, typer.Option("--reason", help="Why: kept in every member's history.")] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Give the baselines their traffic back even when a shared resource excludes one."
        ),
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Give every member's baseline its traffic back, in one transaction."""
    _steer(name, "abort", {"reason": reason, "force": force}, output)


def _steer(name: str, verb: str, body: dict[str, Any] | None, output: Output) -> None:
    with ApiClient.from_environ() as api:
        data = api.post(api_path("releases", name, verb), json=body)
    if output is Output.json:
        render.print_json(data)
        return
    done = {"pause": "paused", "resume": "resumed", "abort": "aborted"}[verb]
    render.say(f"{done} release {data['name']}: {data['state']}")
    render.show(members_table(data))


def members_table(data: dict[str, Any], back: bool = False) -> Any:
    rows = []
    for m in data["members"]:
        moved = f"{m['after']} → {m['before']}" if back else f"{m['before']} → {m['after']}"
        r = m.get("rollout")
        rollout = (
            "-"
            if r is None
            else f"{r['state']} (step {r['step'] + 1}/{r['steps']}, {r['candidate_percent']:g}%)"
        )
        rows.append((m["function"], m["alias"], moved, rollout, "" if r is None else r["reason"]))
    return render.table(["FUNCTION", "ALIAS", "MOVE", "ROLLOUT", "REASON"], rows, title="members")
