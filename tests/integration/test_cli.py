"""The `turnout` command against a real server: what a user types, and what they rely on seeing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.support import Server, unique
from turnout.cli.client import CliError
from turnout.cli.main import app
from turnout.cli.pack import pack
from turnout.cli.project import scaffold_files

ROOT = Path(__file__).resolve().parents[2]
Cli = Callable[..., Result]


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    """Run the CLI in-process against the session's server; asserts the exit code (default 0)."""
    runner = CliRunner()
    base = {
        "TURNOUT_URL": server.url,
        "TURNOUT_TOKEN": server.token,
        "TURNOUT_DATA_DIR": str(tmp_path / "no-server-here"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }

    def run(*args: object, code: int = 0, env: dict[str, str | None] | None = None) -> Result:
        result = runner.invoke(app, [str(a) for a in args], env={**base, **(env or {})})
        assert result.exit_code == code, f"{args}: {result.output}{result.exception!r}"
        return result

    return run


def new_function(cli: Cli, tmp_path: Path) -> tuple[str, Path]:
    name = unique("cli")
    folder = tmp_path / name
    cli("init", folder, "--name", name)
    return name, folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def deploy_json(cli: Cli, folder: Path, *flags: str) -> dict:
    return json.loads(cli("deploy", folder, *flags, "-o", "json").stdout)


def test_init_then_deploy_with_alias_creates_version_1_and_the_alias(
    cli: Cli, tmp_path: Path, api: httpx.Client
) -> None:
    name, folder = new_function(cli, tmp_path)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        ".turnoutignore",
        "app.py",
        "events/example.json",
        "turnout.toml",
    ]

    out = cli("deploy", folder, "--alias", "prod", "--reason", "first").stdout

    assert "published version 1" in out
    assert f"alias prod of {name}: created → 1" in out
    alias = api.get(f"/v1/functions/{name}/aliases/prod").json()
    assert alias["target"] == "1"
    history = api.get(f"/v1/functions/{name}/aliases/prod/history").json()["history"]
    assert history[0]["reason"] == "first"


def test_redeploying_unchanged_code_keeps_the_sha_and_the_version(cli: Cli, tmp_path: Path) -> None:
    _, folder = new_function(cli, tmp_path)
    first = deploy_json(cli, folder, "--publish")
    (folder / "app.py").touch()  # a new mtime must not change the bundle
    second = deploy_json(cli, folder, "--publish")

    assert second["bundle"]["sha256"] == first["bundle"]["sha256"]
    assert second["draft_status"] == "unchanged"
    assert (first["version"]["version"], first["version"]["created"]) == (1, True)
    assert (second["version"]["version"], second["version"]["created"]) == (1, False)
    out = cli("deploy", folder, "--publish").stdout
    assert "version 1 of" in out and "unchanged" in out


def test_a_configuration_change_publishes_version_2(cli: Cli, tmp_path: Path) -> None:
    name, folder = new_function(cli, tmp_path)
    cli("deploy", folder, "--publish")
    edit(folder / "turnout.toml", "timeout = 30", "timeout = 60")

    out = cli("deploy", folder, "--publish").stdout

    assert f"published version 2 of {name}" in out
    versions = json.loads(cli("versions", name, "-o", "json").stdout)["versions"]
    assert [(v["version"], v["config"]["timeout"]) for v in versions] == [(1, 30), (2, 60)]
    table = cli("versions", name).stdout
    assert re.search(r"2\s+│.*│\s+60s\s+│", table), table


def test_turnoutignore_leaves_files_out_of_the_bundle(cli: Cli, tmp_path: Path, api: httpx.Client) -> None:
    name, folder = new_function(cli, tmp_path)
    (folder / "helper.py").write_text("X = 1\n")
    (folder / "secrets.txt").write_text("do not ship\n")
    (folder / "build").mkdir()
    (folder / "build" / "out.bin").write_bytes(b"\0")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    with (folder / ".turnoutignore").open("a") as ignore:
        ignore.write("secrets.txt\nbuild/\n")

    planned = json.loads(cli("deploy", folder, "--dry-run", "-o", "json").stdout)
    result = deploy_json(cli, folder)

    assert planned["files"] == ["app.py", "helper.py"]  # events/ is in the scaffolded .turnoutignore
    assert result["bundle"]["files"] == 2
    assert result["bundle"]["sha256"] == planned["code_sha256"]
    assert api.get(f"/v1/bundles/{result['bundle']['sha256']}").json()["files"] == 2
    described = json.loads(cli("describe", name, "-o", "json").stdout)
    assert described["code_sha256"] == planned["code_sha256"]


def test_versions_and_describe_print_the_apis_json(cli: Cli, tmp_path: Path, api: httpx.Client) -> None:
    name, folder = new_function(cli, tmp_path)
    cli("deploy", folder, "--alias", "prod")

    listed = json.loads(cli("versions", name, "-o", "json").stdout)
    assert listed == api.get(f"/v1/functions/{name}/versions").json()
    draft = json.loads(cli("describe", name, "-o", "json").stdout)
    assert draft == api.get(f"/v1/functions/{name}").json()
    assert draft["config"]["environment"] == {"GREETING": "Hello"}
    assert json.loads(cli("describe", f"{name}:1", "-o", "json").stdout)["version"] == 1
    assert json.loads(cli("describe", f"{name}:prod", "-o", "json").stdout)["target"] == "1"
    assert json.loads(cli("describe", f"{name}:$LATEST", "-o", "json").stdout)["name"] == name
    assert "prod → 1" in cli("describe", name).stdout


def test_diff_shows_config_side_by_side_and_code_as_a_unified_diff(cli: Cli, tmp_path: Path) -> None:
    name, folder = new_function(cli, tmp_path)
    cli("deploy", folder, "--publish")
    edit(folder / "turnout.toml", "timeout = 30", "timeout = 45")
    edit(folder / "turnout.toml", 'GREETING = "Hello"', 'GREETING = "Hi"')
    edit(folder / "app.py", '"world"', '"everyone"')
    cli("deploy", folder, "--publish")

    out = cli("diff", name, "1", "2").stdout

    assert re.search(r"│ timeout\s+│ 30\s+│ 45\s+│", out), out
    assert re.search(r"│ GREETING\s+│ Hello\s+│ Hi\s+│", out), out
    assert "modified app.py" in out
    assert '-    name = event.get("name", "world")' in out
    assert '+    name = event.get("name", "everyone")' in out
    assert "identical" in cli("diff", name, "2").stdout  # 2 against the draft
    data = json.loads(cli("diff", name, "1", "2", "-o", "json").stdout)
    assert [c["key"] for c in data["config"]] == ["timeout"]


def test_alias_weights_swap_and_rollback(cli: Cli, tmp_path: Path, api: httpx.Client) -> None:
    name, folder = new_function(cli, tmp_path)
    cli("deploy", folder, "--alias", "prod")
    edit(folder / "app.py", '"world"', '"you"')
    cli("deploy", folder, "--alias", "staging")

    out = cli("alias", "set", name, "prod", "1=70", "2=30", "--reason", "canary").stdout
    assert "1 → 1 (70%), 2 (30%)" in out
    prod = api.get(f"/v1/functions/{name}/aliases/prod").json()
    assert [(r["version"], r["weight_bp"]) for r in prod["routing"]] == [("1", 7000), ("2", 3000)]
    assert "prod (70%)" in cli("versions", name).stdout

    cli("swap", name, "staging", "prod", "--reason", "go live")
    targets = {a["name"]: a["target"] for a in api.get(f"/v1/functions/{name}/aliases").json()["aliases"]}
    assert targets == {"prod": "2", "staging": "1 (70%), 2 (30%)"}

    out = cli("rollback", name, "prod").stdout
    assert "rolled back alias prod" in out
    assert api.get(f"/v1/functions/{name}/aliases/prod").json()["target"] == "1 (70%), 2 (30%)"
    cli("rollback", name, "prod", "--to", "1")
    assert api.get(f"/v1/functions/{name}/aliases/prod").json()["target"] == "1"

    history = cli("alias", "history", name, "prod").stdout
    for expected in ("swap with staging", "rollback", "canary", "go live"):
        assert expected in history


def test_alias_settings_and_secrets(cli: Cli, tmp_path: Path) -> None:
    name, folder = new_function(cli, tmp_path)
    cli("deploy", folder, "--alias", "prod")

    cli("alias", "set", name, "prod", "--setting", "LOG_LEVEL=debug", "--secret", "DB_URL=postgres://x")

    alias = json.loads(cli("describe", f"{name}:prod", "-o", "json").stdout)
    assert alias["settings"] == {"LOG_LEVEL": "debug", "DB_URL": "****"}
    assert alias["target"] == "1"
    revealed = json.loads(cli("describe", f"{name}:prod", "--reveal", "-o", "json").stdout)
    assert revealed["settings"]["DB_URL"] == "postgres://x"
    stale = cli("alias", "set", name, "prod", "1", "--if-match", "not-the-revision", code=1)
    assert "error: PreconditionFailed:" in stale.stderr


def test_gc_dry_run_lists_without_deleting(cli: Cli, tmp_path: Path) -> None:
    name, folder = new_function(cli, tmp_path)
    for timeout in ("31", "32", "33"):
        edit(
            folder / "turnout.toml",
            re.search(r"timeout = \d+", (folder / "turnout.toml").read_text())[0],
            f"timeout = {timeout}",
        )
        cli("deploy", folder, "--publish")
    cli("alias", "set", name, "prod", "2")

    out = cli("gc", name, "--keep", "0", "--dry-run").stdout

    assert "would delete versions: 1, 3" in out
    assert version_numbers(cli, name) == [1, 2, 3]
    report = json.loads(cli("gc", name, "--keep", "0", "-o", "json").stdout)
    assert report["deleted_versions"] == [1, 3] and report["pinned"] == {"2": ["prod"]}
    assert version_numbers(cli, name) == [2]


def version_numbers(cli: Cli, name: str) -> list[int]:
    return [v["version"] for v in json.loads(cli("versions", name, "-o", "json").stdout)["versions"]]


def test_delete_a_version_and_a_function(cli: Cli, tmp_path: Path) -> None:
    name, folder = new_function(cli, tmp_path)
    cli("deploy", folder, "--alias", "prod")

    in_use = cli("delete", f"{name}:1", code=1)
    assert "error: VersionInUse:" in in_use.stderr
    assert cli("delete", name, code=2).exit_code == 2  # stdin is not a terminal: --yes is required
    cli("delete", name, "--yes")
    assert "error: FunctionNotFound:" in cli("describe", name, code=1).stderr


def test_a_failing_command_prints_the_stable_code_and_exits_1(cli: Cli) -> None:
    result = cli("versions", unique("missing"), code=1)
    assert result.stderr.startswith("error: FunctionNotFound: ")
    assert result.stdout == ""


def test_without_a_token_the_server_says_unauthorized(cli: Cli) -> None:
    result = cli("versions", "anything", code=1, env={"TURNOUT_TOKEN": None})
    assert result.stderr.startswith("error: Unauthorized: ")


def test_the_token_falls_back_to_the_servers_admin_token_file(cli: Cli, server: Server) -> None:
    cli("token", "ls", env={"TURNOUT_TOKEN": None, "TURNOUT_DATA_DIR": str(server.data_dir)})


def test_tokens_are_shown_once_and_scoped(cli: Cli, tmp_path: Path) -> None:
    token_name = unique("tok")
    token = cli("token", "create", token_name, "--scope", "read").stdout.strip()
    assert token.startswith("tt_")
    assert token_name in cli("token", "ls").stdout

    name, folder = new_function(cli, tmp_path)
    refused = cli("deploy", folder, code=1, env={"TURNOUT_TOKEN": token})
    assert "error: Forbidden:" in refused.stderr
    cli("token", "rm", token_name)
    assert "error: Unauthorized:" in cli("token", "ls", code=1, env={"TURNOUT_TOKEN": token}).stderr


def test_an_unreachable_server_is_named(cli: Cli) -> None:
    result = cli("versions", "x", code=1, env={"TURNOUT_URL": "http://127.0.0.1:9"})
    assert result.stderr.startswith("error: ServerUnreachable: cannot reach Turnout at http://127.0.0.1:9")


def test_init_refuses_to_overwrite(cli: Cli, tmp_path: Path) -> None:
    _, folder = new_function(cli, tmp_path)
    (folder / "app.py").write_text("mine\n")
    result = cli("init", folder, code=1)
    assert "error: AlreadyExists:" in result.stderr
    assert (folder / "app.py").read_text() == "mine\n"


def test_the_example_is_what_init_makes() -> None:
    example = ROOT / "examples" / "hello"
    assert {p: (example / p).read_text() for p in scaffold_files("hello")} == scaffold_files("hello")


def test_packing_is_deterministic_and_stays_inside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    (folder / "pkg").mkdir(parents=True)
    (folder / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (folder / "pkg" / "run.sh").write_text("#!/bin/sh\n")
    (folder / "pkg" / "run.sh").chmod(0o755)
    first = pack(folder)
    os.utime(folder / "app.py", (0, 0))
    assert pack(folder).sha256 == first.sha256
    assert first.files == ("app.py", "pkg/run.sh")

    (folder / "same.py").symlink_to(folder / "app.py")
    assert "same.py" in pack(folder).files
    (folder / "escape").symlink_to(tmp_path)
    with pytest.raises(CliError, match="outside"):
        pack(folder)


def env_for(server: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    return {**env, "TURNOUT_URL": server.url, "TURNOUT_TOKEN": server.token}


def test_the_real_command_deploys_the_example(server: Server, api: httpx.Client) -> None:
    name = unique("example")
    command = [
        sys.executable,
        "-m",
        "turnout",
        "deploy",
        str(ROOT / "examples" / "hello"),
        "--name",
        name,
        "--alias",
        "prod",
    ]
    done = subprocess.run(command, env=env_for(server), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert api.get(f"/v1/functions/{name}/aliases/prod").json()["target"] == "1"

    missing = [sys.executable, "-m", "turnout", "describe", unique("missing")]
    failed = subprocess.run(missing, env=env_for(server), capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: FunctionNotFound: ")


def test_help_does_not_import_the_server_or_httpx() -> None:
    check = (
        "import sys\nfrom turnout.cli.main import app\n"
        "heavy = {'fastapi', 'sqlalchemy', 'uvicorn', 'httpx'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "turnout", "--help"], capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 0 and "deploy" in usage.stdout
