"""`turnout init` and `turnout deploy`: from a folder on disk to a draft, a version and an alias."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from turnout.cli import render
from turnout.cli.aliases import move_text, point_alias
from turnout.cli.client import ApiClient, CliError, api_path
from turnout.cli.functions import PANEL, version_text
from turnout.cli.pack import pack
from turnout.cli.project import check_name, init_project, load_project
from turnout.cli.render import Output, OutputOption


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(init)
    app.command(rich_help_panel=PANEL)(deploy)


def init(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to create (or an empty one).")],
    name: Annotated[
        str | None, typer.Option(help="The function's name (default: the folder's name).")
    ] = None,
) -> None:
    """Start a function: turnout.toml, app.py, events/example.json and .turnoutignore.

    Refuses to overwrite any existing file. Example: `turnout init hello`.
    """
    function = name or folder.resolve().name
    written = init_project(folder, function)
    render.say(f"created function {function} in {folder}:")
    for path in written:
        render.say(f"  {path}")
    render.say(f"next: turnout deploy {folder} --alias prod")


def deploy(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="The function's folder (with turnout.toml).")
    ] = Path("."),
    name: Annotated[
        str | None, typer.Option(help="The function's name (default: `name` in turnout.toml).")
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Also publish the draft as a version (same code: same version).")
    ] = False,
    alias: Annotated[
        str | None,
        typer.Option(
            "--alias", metavar="NAME", help="Also point this alias at the version (implies --publish)."
        ),
    ] = None,
    description: Annotated[
        str | None,
        typer.Option(help="Describes the published version (needs --publish or --alias)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why the alias moves: kept in its history (needs --alias).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the files that would be sent, and their sha256.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Move the alias even past a running rollout (aborted) or the compatibility guard (recorded "
            "in its history), as `alias set --force` does (needs --alias).",
        ),
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Upload a folder's code and configuration as the function's draft ($LATEST).

    The folder is zipped deterministically, without the files .turnoutignore names, so unchanged
    code gives the same sha256 and publishing it again returns the same version.
    Examples: `turnout deploy examples/hello`, `turnout deploy . --alias prod --reason "fix #12"`.
    """
    if description is not None and not (publish or alias):
        raise typer.BadParameter("--description describes the published version: add --publish or --alias")
    if (reason is not None or force) and not alias:
        raise typer.BadParameter("--reason and --force are about an alias move: add --alias NAME")
    project = load_project(folder)
    function = check_name(name or project.name or _missing_name(folder))
    bundle = pack(folder)
    if dry_run:
        _show_dry_run(function, bundle.files, bundle.sha256, bundle.unpacked_bytes, project.config(), output)
        return
    result: dict[str, Any] = {"function": function}
    with ApiClient.from_environ() as api:
        manifest = api.post("/v1/bundles", content=bundle.data, headers={"Content-Type": "application/zip"})
        before = _draft_revision(api, function)
        draft_body = {"bundle_sha256": bundle.sha256, **project.config()}
        draft = api.put(api_path("functions", function), json=draft_body)
        result.update(bundle=manifest, draft=draft, draft_status=_status(before, draft["revision_id"]))
        if publish or alias:
            body = {"code_sha256": bundle.sha256, "revision_id": draft["revision_id"]}
            if description is not None:
                body["description"] = description
            result["version"] = api.post(api_path("functions", function, "versions"), json=body)
        if alias:
            target = {"version": str(result["version"]["version"]), "reason": reason or ""}
            alias_before, reply = point_alias(api, function, alias, target, force=force)
            result.update(alias=reply.body, alias_before=alias_before)
    if output is Output.json:
        render.print_json(result)
    else:
        _show_result(result)


def _missing_name(folder: Path) -> str:
    raise CliError("InvalidConfig", f"no function name: set name in {folder / 'turnout.toml'} or pass --name")


def _draft_revision(api: ApiClient, function: str) -> str | None:
    try:
        found = api.get(api_path("functions", function))
    except CliError as error:
        if error.code == "FunctionNotFound":
            return None
        raise
    return str(found["revision_id"])


def _status(before: str | None, after: str) -> str:
    return "created" if before is None else "unchanged" if before == after else "updated"


def _show_result(result: dict[str, Any]) -> None:
    function, manifest, draft = result["function"], result["bundle"], result["draft"]
    files = render.plural(manifest["files"], "file")
    dependencies = render.plural(len(manifest["dependencies"]), "dependency", "dependencies")
    render.say(f"code {draft['code_sha256']} ({files}, {manifest['unpacked_bytes']} bytes, {dependencies})")
    render.say(f"draft of {function} {result['draft_status']} (revision {draft['revision_id']})")
    if "version" in result:
        render.say(version_text(function, result["version"]))
    if "alias" in result:
        alias = result["alias"]
        render.say(move_text(function, alias["name"], result["alias_before"], alias["target"]))


def _show_dry_run(
    function: str, files: tuple[str, ...], sha256: str, size: int, config: dict[str, Any], output: Output
) -> None:
    if output is Output.json:
        render.print_json(
            {"function": function, "code_sha256": sha256, "files": list(files), "config": config}
        )
        return
    render.say(f"would deploy {function}: code {sha256} ({render.plural(len(files), 'file')}, {size} bytes)")
    for name in files:
        render.say(f"  {name}")
