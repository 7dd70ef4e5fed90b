"""`turnout release` against a real server: three functions moved as one through the CLI and the API,
shown by describe/ls, rolled back as one; a release rollout whose one failing member rolls all three back
by itself, and a healthy one that ends with all three on their candidates.

One server for the module's tests (the session's ``quick`` one: its controller ticks every 100 ms); every
wait polls until a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest

from tests.integration.rollout_support import alias_target, load, two_versions, versioned
from tests.integration.test_rollout_cli import run
from tests.support import Server, unique, wait_for

pytestmark = pytest.mark.integration
TERMINAL = {"succeeded", "rolled-back", "failed", "aborted"}


def trio(
    client: httpx.Client, candidates: dict[str, dict[str, str]] | None = None
) -> dict[str, tuple[int, int]]:
    """Three functions, each with a baseline (``prod``) and a candidate version."""
    prefix = unique("rel")
    names = [f"{prefix}-{part}" for part in ("api", "worker", "web")]
    found = {}
    for name in names:
        candidate = (candidates or {}).get(name.rsplit("-", 1)[1], versioned("v2"))
        found[name] = two_versions(client, name, candidate)
    return found


def sets(functions: dict[str, tuple[int, int]], which: int = 1) -> list[str]:
    return [arg for name, pair in functions.items() for arg in ("--set", f"{name}:prod={pair[which]}")]


def release_view(client: httpx.Client, name: str) -> dict[str, Any]:
    response = client.get(f"/v1/releases/{name}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def ended(client: httpx.Client, name: str, timeout: float = 90.0) -> dict[str, Any]:
    return wait_for(
        lambda: (view := release_view(client, name))["state"] in TERMINAL and view,
        timeout=timeout,
        interval=0.1,
        what=f"release {name} to end",
    )


@contextmanager
def loaded(server: Server, functions: dict[str, tuple[int, int]]) -> Iterator[None]:
    """One client invoking each function's ``prod`` until the block ends."""
    with ExitStack() as stack:
        for function in functions:
            stack.enter_context(load(server, function, clients=1))
        yield


def history(client: httpx.Client, function: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/functions/{function}/aliases/prod/history")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["history"]
    return found


def test_a_release_of_three_functions_via_the_cli(quick: Server, client: httpx.Client) -> None:
    functions = trio(client)
    name = unique("checkout")

    done = run(quick, "release", "create", name, *sets(functions), "--reason", "new checkout")
    assert f"released {name}: succeeded" in done.stdout
    assert {alias_target(client, f) for f in functions} == {str(functions[f][1]) for f in functions}
    for function in functions:
        line = history(client, function)[0]
        assert line["reason"] == f"release {name}: new checkout"
        assert line["details"]["release"] == name

    described = run(quick, "release", "describe", name).stdout
    for function, (baseline, candidate) in functions.items():
        assert function in described and f"{baseline} → {candidate}" in described
    assert "succeeded" in described and "new checkout" in described
    listed = run(quick, "release", "ls").stdout
    assert name in listed and "at once" in listed
    as_json = json.loads(run(quick, "release", "describe", name, "-o", "json").stdout)
    assert [m["function"] for m in as_json["members"]] == list(functions)

    again = run(quick, "release", "create", name, *sets(functions), code=1)
    assert "AlreadyExists" in again.stderr
    bad = run(quick, "release", "create", unique("bad"), "--set", "nocolon=3", code=1)
    assert "InvalidParameterValue" in bad.stderr and "FUNCTION:ALIAS=VERSION" in bad.stderr
    first = next(iter(functions))
    unknown = run(quick, "release", "create", unique("bad"), "--set", f"{first}:prod=99", code=1)
    assert "VersionNotFound" in unknown.stderr
    assert alias_target(client, first) == str(functions[first][1])  # nothing moved

    back = run(quick, "release", "rollback", name, "--reason", "conversion dropped")
    assert f"rolled back release {name}: rolled-back" in back.stdout
    for function, (baseline, _) in functions.items():
        assert alias_target(client, function) == str(baseline)
        line = history(client, function)[0]
        assert line["action"] == "rollback" and line["details"]["release"] == name
        assert line["reason"] == f"release {name} rolled back: conversion dropped"
    assert "NothingToRollBack" in run(quick, "release", "rollback", name, code=1).stderr


def test_a_release_rollout_with_one_failing_member_rolls_all_three_back(
    quick: Server, client: httpx.Client
) -> None:
    functions = trio(client, {"worker": versioned("v2", fail_rate=1.0)})
    name = unique("failing")
    body = {
        "name": name,
        "members": [{"function": f, "alias": "prod", "version": pair[1]} for f, pair in functions.items()],
        "rollout": {
            "strategy": "canary",
            "weight": 50,
            "bake_s": 60,
            "gates": {"max_error_rate": 0.2, "min_invocations": 5},
            "window_s": 30,
        },
    }
    with loaded(quick, functions):
        response = client.post("/v1/releases", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["state"] == "pending"
        view = ended(client, name)

    assert view["state"] == "rolled-back", view
    assert [m["rollout"]["state"] for m in view["members"]] == ["rolled-back"] * 3
    worker = next(f for f in functions if f.endswith("-worker"))
    for function, (baseline, _) in functions.items():
        assert alias_target(client, function) == str(baseline)
        lines = history(client, function)
        moved = [line for line in lines if line["details"].get("release") == name]
        assert [line["action"] for line in moved] == ["rollback", "rollout"]  # newest first
        reason = moved[0]["reason"]
        assert ("failed its gates" if function == worker else "the whole release rolls back") in reason
    assert [h["state"] for h in view["history"]][-1] == "rolled-back"


def test_a_healthy_release_rollout_ends_with_all_three_on_their_candidates(
    quick: Server, client: httpx.Client
) -> None:
    functions = trio(client)
    name = unique("healthy")
    args = ["--strategy", "canary", "--weight", "50", "--bake", "2s"]
    args += ["--max-error-rate", "0.2", "--min-invocations", "3", "--window", "30s"]
    with loaded(quick, functions):
        done = run(quick, "release", "create", name, *sets(functions), *args)
        assert f"started release rollout {name}: pending" in done.stdout
        view = ended(client, name)

    assert view["state"] == "succeeded", view
    assert view["rollout"]["strategy"]["kind"] == "canary"
    for function, (_, candidate) in functions.items():
        assert alias_target(client, function) == str(candidate)
    described = run(quick, "release", "describe", name).stdout
    assert "succeeded" in described and "rollout" in described
    # every member crossed each step in the same transaction: their rollouts' moves have the same times
    moves = []
    for function in functions:
        response = client.get(f"/v1/functions/{function}/aliases/prod/rollouts", params={"limit": 1})
        assert response.status_code == 200, response.text
        rollout = response.json()["rollouts"][0]
        moves.append([h["at"] for h in rollout["history"] if h["routing"] is not None])
    assert len(moves[0]) == 2 and moves[0] == moves[1] == moves[2]


def test_a_release_rollout_is_paused_resumed_and_aborted_through_the_cli(
    quick: Server, client: httpx.Client
) -> None:
    functions = trio(client)
    name = unique("steered")
    started = run(quick, "release", "create", name, *sets(functions), "--strategy", "canary", "--bake", "10m")
    assert "started release rollout" in started.stdout, started.stdout
    run(quick, "release", "create", name + "-x", *sets(functions), "--strategy", "canary", code=1)

    def members(state: str) -> bool:
        found = [m["rollout"]["state"] for m in release_view(client, name)["members"]]
        return found == [state] * 3

    wait_for(lambda: members("stepping") or members("baking"), timeout=30, what="the first step")
    paused = run(quick, "release", "pause", name, "--reason", "looking at a graph")
    assert f"paused release {name}" in paused.stdout and members("paused")
    resumed = run(quick, "release", "resume", name)
    assert f"resumed release {name}" in resumed.stdout and not members("paused")
    aborted = run(quick, "release", "abort", name, "--reason", "not today", "-o", "json")
    assert json.loads(aborted.stdout)["name"] == name
    for function, (baseline, _) in functions.items():  # all three back in the abort's one transaction
        assert alias_target(client, function) == str(baseline)
    assert ended(client, name)["state"] == "aborted"
    gone = run(quick, "release", "abort", name, code=1)
    assert "InvalidRolloutTransition" in gone.stderr
