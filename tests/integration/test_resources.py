"""Shared resources and the compatibility guards against a real server: the API, the CLI, the
Lambda-compatible API, and a rollout whose automatic rollback is blocked (docs/releases.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner, Result

from tests.integration.lambda_support import CONFLICT, aws_error, lambda_client
from tests.integration.rollout_support import alias_target, load, start, status, versioned
from tests.integration.runtime_support import point, release
from tests.support import Server, error_code, unique, wait_for
from turnout.cli.main import app

pytestmark = pytest.mark.integration
Cli = Callable[..., Result]


def set_resource(api: httpx.Client, name: str, version: str, **body: Any) -> httpx.Response:
    return api.put(f"/v1/resources/{name}", json={"version": version, **body})


def history(api: httpx.Client, fn: str, alias: str = "prod") -> list[dict[str, Any]]:
    response = api.get(f"/v1/functions/{fn}/aliases/{alias}/history")
    assert response.status_code == 200, response.text
    return list(response.json()["history"])


def two(api: httpx.Client, fn: str, db: str, old: dict[str, str] | None = None) -> tuple[int, int]:
    """v1 requires ``db`` <7, v2 >=6; ``db`` at 6; prod on v1, staging on v2."""
    assert set_resource(api, db, "6", reason="initial").status_code == 201
    v1 = release(api, fn, old or versioned("v1"), requires={db: "<7"})
    v2 = release(api, fn, versioned("v2"), requires={db: ">=6"})
    point(api, fn, "prod", version=v1)
    point(api, fn, "staging", version=v2)
    return v1, v2


def test_moving_a_resource_is_checked_against_live_routes_and_moves_after_are_refused(
    client: httpx.Client,
) -> None:
    fn, db = unique("guard"), unique("db")
    v1, v2 = two(client, fn, db)
    assert client.get(f"/v1/functions/{fn}/versions/{v1}").json()["config"]["requires"] == {db: "<7"}

    # the resource move is refused while prod routes to v1; the dry run lists exactly that
    refused = set_resource(client, db, "7", reason="migration 0042")
    assert (refused.status_code, error_code(refused)) == (409, "Incompatible")
    assert f"{fn} v1 requires {db} <7" in refused.json()["error"]["message"]
    dry = set_resource(client, db, "7", dry_run=True)
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert [(c["function"], c["version"], c["via"]) for c in dry.json()["incompatible"]] == [
        (fn, v1, ["alias prod"])
    ]
    assert client.get(f"/v1/resources/{db}").json()["version"] == "6"

    point(client, fn, "prod", version=v2, reason="off v1 before the migration")
    moved = set_resource(client, db, "7", reason="migration 0042")
    assert moved.status_code == 200 and moved.json()["before"] == "6" and moved.json()["version"] == "7"

    # now nothing may send traffic to v1: alias set, split, new alias, swap, rollback, rollout start
    before = history(client, fn)
    attempts = [
        client.put(f"/v1/functions/{fn}/aliases/prod", json={"version": v1}),
        client.put(f"/v1/functions/{fn}/aliases/prod", json={"weights": {str(v1): 10, str(v2): 90}}),
        client.put(f"/v1/functions/{fn}/aliases/canary", json={"version": v1}),
        client.post(f"/v1/functions/{fn}/aliases/prod/rollback", json={}),
        client.post(f"/v1/functions/{fn}/aliases/prod/rollback", json={"to": v1}),
        client.post(f"/v1/functions/{fn}/aliases/prod/rollout", json={"to": v1}),
    ]
    for response in attempts:
        assert (response.status_code, error_code(response)) == (409, "Incompatible"), response.text
        message = response.json()["error"]["message"]
        assert all(s in message for s in (fn, "v1", db, "is 7", "<7")), message
    assert history(client, fn) == before and alias_target(client, fn) == str(v2)

    # --force goes past the guard and says so in the alias's history
    forced = client.put(
        f"/v1/functions/{fn}/aliases/old", params={"force": "true"}, json={"version": v1, "reason": "pin"}
    )
    assert forced.status_code == 201, forced.text
    line = history(client, fn, "old")[0]
    assert "forced past the compatibility guard" in line["reason"] and line["details"]["forced_past"]

    swap = client.post(f"/v1/functions/{fn}/swap", json={"a": "prod", "b": "old"})
    assert (swap.status_code, error_code(swap)) == (409, "Incompatible")
    baseline = client.post(f"/v1/functions/{fn}/aliases/old/rollout", json={"to": v2})
    assert (baseline.status_code, error_code(baseline)) == (409, "Incompatible")  # the baseline is v1
    assert history(client, fn) == before

    # the resource's history and description
    lines = client.get(f"/v1/resources/{db}/history").json()["history"]
    assert [(h["before"], h["after"], h["reason"], h["forced"]) for h in lines] == [
        ("6", "7", "migration 0042", False),
        (None, "6", "initial", False),
    ]
    users = client.get(f"/v1/resources/{db}").json()["required_by"]
    assert {(u["version"], u["ok"]) for u in users} == {(v1, False), (v2, True)}


def test_bad_resource_input_gets_a_clear_message_and_a_stable_code(client: httpx.Client) -> None:
    db = unique("db")
    bad = set_resource(client, db, "seven")
    assert (bad.status_code, error_code(bad)) == (400, "InvalidParameterValue")
    assert "PEP 440" in bad.json()["error"]["message"]
    name = client.put("/v1/resources/bad name", json={"version": "1"})
    assert (name.status_code, error_code(name)) == (400, "InvalidName")
    missing = client.get(f"/v1/resources/{db}")
    assert (missing.status_code, error_code(missing)) == (404, "ResourceNotFound")
    fn = unique("badreq")
    bundle = client.post("/v1/bundles", content=_zip()).json()["sha256"]
    draft = client.put(
        f"/v1/functions/{fn}",
        json={"bundle_sha256": bundle, "handler": "app.handler", "requires": {db: "between 1 and 2"}},
    )
    assert draft.status_code == 400 and db in draft.json()["error"]["message"]


def _zip() -> bytes:
    from tests.support import HELLO, make_zip

    return make_zip({"app.py": HELLO})


def test_a_failing_candidate_whose_baseline_became_incompatible_is_held_not_rolled_back(
    quick: Server, client: httpx.Client
) -> None:
    fn, db = unique("blocked"), unique("db")
    set_resource(client, db, "6")
    baseline = release(client, fn, versioned("v1"), requires={db: "<7"})
    candidate = release(client, fn, versioned("v2", fail_rate=1.0), requires={db: ">=6"})
    point(client, fn, "prod", version=baseline)
    gates = {"max_error_rate_increase": 0.01, "min_invocations": 20}
    started = start(
        client, fn, to=candidate, strategy="canary", weight=50, bake_s=60, gates=gates, window_s=30
    )
    split = f"{baseline} (50%), {candidate} (50%)"
    wait_for(lambda: alias_target(client, fn) == split, timeout=30, what="the first step")
    # the migration goes ahead (forced: v1 still carries half the traffic)
    assert set_resource(client, db, "7", force=True, reason="migration").json()["forced"] is True
    with load(quick, fn):
        view = wait_for(
            lambda: (v := status(client, fn))["state"] == "paused" and v,
            timeout=60,
            interval=0.1,
            what="the rollback to be blocked",
        )
    assert view["id"] == started["id"]
    assert f"rollback to {baseline} blocked: {db} is 7, v{baseline} requires <7" in view["reason"]
    assert alias_target(client, fn) == split  # traffic stays where it was
    assert history(client, fn)[0]["action"] == "rollout"  # no rollback line

    blocked = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("turnout_rollouts_blocked_total{") and f'function="{fn}"' in line
    ]
    assert len(blocked) == 1 and 'alias="prod"' in blocked[0] and blocked[0].endswith(" 1.0"), blocked
    refused = client.post(f"/v1/functions/{fn}/aliases/prod/rollout/abort", json={})
    assert (refused.status_code, error_code(refused)) == (409, "Incompatible")
    aborted = client.post(f"/v1/functions/{fn}/aliases/prod/rollout/abort", json={"force": True})
    assert aborted.status_code == 200, aborted.text
    assert alias_target(client, fn) == str(baseline)
    line = history(client, fn)[0]
    assert line["action"] == "rollback" and line["details"]["forced_past"]


def test_lambda_update_alias_to_an_incompatible_version_is_an_aws_conflict(
    quick: Server, client: httpx.Client
) -> None:
    fn, db = unique("aws"), unique("db")
    v1, v2 = two(client, fn, db)
    point(client, fn, "prod", version=v2)
    assert set_resource(client, db, "7").status_code == 200
    aws = lambda_client(quick.url)
    with pytest.raises(ClientError) as caught:
        aws.update_alias(FunctionName=fn, Name="prod", FunctionVersion=str(v1))
    assert aws_error(caught.value) == CONFLICT
    assert f"{fn} v1 requires {db} <7" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as created:
        aws.create_alias(FunctionName=fn, Name="beta", FunctionVersion=str(v1))
    assert aws_error(created.value) == CONFLICT
    assert aws.get_alias(FunctionName=fn, Name="prod")["FunctionVersion"] == str(v2)


@pytest.fixture
def cli(quick: Server, tmp_path: Path) -> Cli:
    runner = CliRunner()
    env = {
        "TURNOUT_URL": quick.url,
        "TURNOUT_TOKEN": quick.token,
        "TURNOUT_DATA_DIR": str(tmp_path / "none"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }

    def run(*args: object, code: int = 0) -> Result:
        result = runner.invoke(app, [str(a) for a in args], env=env)
        assert result.exit_code == code, f"{args}: {result.output}{result.exception!r}"
        return result

    return run


def test_the_resource_commands(cli: Cli, client: httpx.Client, tmp_path: Path) -> None:
    fn, db = unique("clires"), unique("db")
    folder = tmp_path / fn
    cli("init", folder, "--name", fn)
    project = folder / "turnout.toml"
    project.write_text(project.read_text() + f'\n[requires]\n{db} = "<7"\n')
    assert "6" in cli("resource", "set", db, "--version", "6", "--reason", "initial").output
    cli("deploy", folder, "--alias", "prod")
    described = cli("describe", f"{fn}:1").output
    assert "requires" in described and f"{db} <7" in described

    dry = cli("resource", "set", db, "--version", "7", "--dry-run").output
    assert "nothing written" in dry and f"{fn} v1 requires {db} <7 ← alias prod" in dry
    refused = cli("resource", "set", db, "--version", "7", code=1).output
    assert "error: Incompatible:" in refused and "alias prod" in refused
    forced = cli("resource", "set", db, "--version", "7", "--force", "--reason", "m42").output
    assert "forced past the compatibility guard" in forced

    assert db in cli("resource", "ls").output
    assert "OUT OF RANGE" in cli("resource", "describe", db).output
    lines = json.loads(cli("resource", "history", db, "-o", "json").output)["history"]
    assert [(h["after"], h["forced"]) for h in lines] == [("7", True), ("6", False)]
    assert "yes" in cli("resource", "history", db).output

    # the deploy's alias move and alias set are refused now; --force goes through and is recorded
    edit = folder / "app.py"
    edit.write_text(edit.read_text() + "\n# v2\n")
    refused_deploy = cli("deploy", folder, "--alias", "prod", code=1).output
    assert "error: Incompatible:" in refused_deploy
    cli("deploy", folder, "--alias", "prod", "--force", "--reason", "hotfix")  # the same version 2, forced
    assert "forced past guard" in cli("alias", "history", fn, "prod").output
    assert "error: Incompatible:" in cli("alias", "set", fn, "staging", "1", code=1).output
    cli("alias", "set", fn, "staging", "1", "--force", "--reason", "pinned")
    assert "forced past guard" in cli("alias", "history", fn, "staging").output
