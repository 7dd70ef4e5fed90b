"""`turnout rollout` as a user types it: the real command (a subprocess) against a real server.

The server ticks its controller every 100 ms; every wait polls until a deadline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.integration.rollout_support import alias_target, status, two_versions, versioned
from tests.support import Server, free_port, unique, wait_for

pytestmark = pytest.mark.integration


def turnout(url: str, token: str, *args: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(TURNOUT_URL=url, TURNOUT_TOKEN=token, COLUMNS="200", NO_COLOR="1")
    command = [sys.executable, "-m", "turnout", *(str(a) for a in args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def run(server: Server, *args: object, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = turnout(server.url, server.token, *args)
    assert done.returncode == code, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def baking(client: httpx.Client, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: (view := status(client, name))["state"] == "baking" and view,
        timeout=20,
        interval=0.05,
        what=f"the rollout of {name} to bake its first step",
    )


def test_an_all_at_once_rollout_watched_to_the_end_exits_0(quick: Server, client: httpx.Client) -> None:
    name = unique("cliall")
    baseline, candidate = two_versions(client, name, versioned("v2"))

    done = run(
        quick, "rollout", "start", name, "prod", "--to", candidate, "--strategy", "all-at-once", "--no-gates",
        "--watch",
    )  # fmt: skip

    assert "started rollout" in done.stdout and f"{baseline} → {candidate}" in done.stdout
    assert done.stdout.rstrip().endswith(f"rollout of {name}:prod ({baseline} → {candidate}): succeeded")
    assert "promote → stepping" in done.stdout  # the watch printed the history as it went
    assert alias_target(client, name) == str(candidate)


def test_a_canary_is_started_inspected_paused_resumed_and_aborted(
    quick: Server, client: httpx.Client
) -> None:
    name = unique("clicanary")
    baseline, candidate = two_versions(client, name, versioned("v2"))
    moving = f"rollout of {name}:prod ({baseline} → {candidate})"

    started = run(
        quick, "rollout", "start", name, "prod", "--to", candidate, "--strategy", "canary", "--weight", "10",
        "--bake", "10m", "--no-gates",
    )  # fmt: skip
    assert f"of {name}:prod: {baseline} → {candidate}, canary: 10% for 10m → 100%" in started.stdout
    assert f"turnout rollout status {name} prod --watch" in started.stderr
    baking(client, name)

    shown = run(quick, "rollout", "status", name, "prod").stdout
    assert "baking" in shown
    assert f"{baseline}: 90%, {candidate}: 10%" in shown
    assert re.search(r"^step\s+1/2\s*$", shown, re.M), shown

    assert (
        run(quick, "rollout", "pause", name, "prod", "--reason", "lunch").stdout.strip()
        == f"{moving}: paused"
    )
    assert status(client, name)["history"][-1]["reason"] == "lunch"
    resumed = run(quick, "rollout", "resume", name, "prod").stdout.strip()
    assert resumed == f"{moving}: resumed (now baking)"
    aborted = run(quick, "rollout", "abort", name, "prod").stdout.strip()
    assert aborted in (f"{moving}: aborted (now rolling-back)", f"{moving}: aborted")
    assert alias_target(client, name) == str(baseline)

    watched = run(quick, "rollout", "status", name, "prod", "--watch", code=1)
    assert watched.stdout.rstrip().endswith(f"{moving}: aborted")

    again = run(
        quick, "rollout", "start", name, "prod", "--to", candidate, "--strategy", "all-at-once", "--no-gates",
        "--watch",
    )  # fmt: skip
    assert again.stdout.rstrip().endswith(f"{moving}: succeeded")
    listed = json.loads(run(quick, "rollout", "history", name, "prod", "-o", "json").stdout)["rollouts"]
    assert [(r["state"], r["baseline"], r["candidate"]) for r in listed] == [
        ("succeeded", baseline, candidate),
        ("aborted", baseline, candidate),
    ]
    assert listed[0]["id"] > listed[1]["id"]

    # the status of a --no-gates rollout says no gate judges it
    assert re.search(r"^gates\s+off\s*$", shown, re.M), shown


def test_moving_an_alias_during_a_rollout_needs_force(quick: Server, client: httpx.Client) -> None:
    name = unique("cliforce")
    baseline, candidate = two_versions(client, name, versioned("v2"))
    run(
        quick, "rollout", "start", name, "prod", "--to", candidate, "--weight", "10", "--bake", "10m",
        "--no-gates",
    )  # fmt: skip
    baking(client, name)

    second = run(quick, "rollout", "start", name, "prod", "--to", candidate, "--no-gates", code=1)
    assert second.stderr.startswith("error: RolloutInProgress: ")
    refused = run(quick, "alias", "set", name, "prod", candidate, code=1)
    assert refused.stderr.startswith("error: RolloutInProgress: ")
    assert alias_target(client, name) == f"{baseline} (90%), {candidate} (10%)"
    assert status(client, name)["state"] == "baking"

    run(quick, "alias", "set", name, "prod", candidate, "--force")
    assert alias_target(client, name) == str(candidate)
    view = status(client, name)
    assert (view["state"], view["active"]) == ("aborted", False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--weight", "150"], "--weight '150': expected a percentage above 0 and below 100"),
        (["--bake", "5x"], "--bake '5x': expected a duration"),
        (["--strategy", "linear", "--weight", "10"], "--weight does not apply to --strategy linear"),
    ],
)
def test_a_bad_option_value_fails_before_any_request(options: list[str], message: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # a request would fail with ServerUnreachable
    done = turnout(nowhere, "no-token", "rollout", "start", "fn", "prod", "--to", "2", *options)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: InvalidParameterValue: {message}"), done.stderr
    assert done.stdout == ""
