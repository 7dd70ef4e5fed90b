"""Schedules end to end against real servers and workers (issue 6, acceptance 2): a one-second rate fires
once per tick in a bounded window, and exactly once per tick across a SIGKILL and restart, with the
missed ticks handled by each schedule's policy (fire-once: one catch-up; skip: none). Also the API's
codes and the CLI.

Workers are sandboxed (they see no file of the tests'), so the recording function sends what it gets to a
:class:`~tests.support.Recorder`, a local HTTP server in the test process."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.support import RECORD_CODE, Recorder, Server, deploy, error_code, publish, unique, wait_for
from turnout.cli.main import app

pytestmark = pytest.mark.integration

# records one JSON object per event, with the name of the schedule that sent it, to $RECORD_URL
RECORDER = (
    """
import os

def handler(event, context):
    name = event["resources"][0].rsplit("/", 1)[1]
    line = {"schedule": name, "time": event["time"], "detail": event["detail"], "source": event["source"],
            "detail-type": event["detail-type"], "id": event["id"]}
    _record(os.environ["RECORD_URL"], line)
    return {"ok": True}
"""
    + "\n\n"
    + RECORD_CODE
)


def recorder(api: httpx.Client, out: Recorder) -> str:
    """A function (version 1 behind ``prod``) that records every event it gets to ``out``."""
    name = unique("sched")
    deploy(api, name, {"app.py": RECORDER}, environment={"RECORD_URL": str(out)})
    publish(api, name)
    response = api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
    assert response.status_code == 201, response.text
    return name


def events(out: Recorder, schedule: str) -> list[dict[str, Any]]:
    """What the function recorded for the events of ``schedule``, in the order they ran."""
    return [event for event in out.records() if event["schedule"] == schedule]


def when(event: dict[str, Any]) -> datetime:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def add(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/schedules", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def fired(out: Recorder, schedule: str, count: int) -> Callable[[], list[dict[str, Any]]]:
    def check() -> list[dict[str, Any]]:
        found = events(out, schedule)
        return found if len(found) >= count else []

    return check


def test_a_one_second_rate_fires_once_per_tick(client: httpx.Client) -> None:
    out = Recorder("ticks")
    function = recorder(client, out)
    name = unique("every-second")
    saved = add(client, name=name, expression="rate(1 second)", function=f"{function}:prod")
    assert (saved["qualifier"], saved["enabled"], saved["missed"]) == ("prod", True, "fire-once")
    first = wait_for(fired(out, name, 1), timeout=30, what="the first tick")
    start = when(first[0])
    # a bounded window of 4 more ticks: each of them exactly once, none missing, none extra
    wait_for(
        lambda: any(when(e) >= start + timedelta(seconds=4) for e in events(out, name)), what="4 more ticks"
    )
    window = [when(e) for e in events(out, name) if when(e) <= start + timedelta(seconds=4)]
    assert sorted(window) == [start + timedelta(seconds=k) for k in range(5)]
    event = events(out, name)[0]
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert len({e["id"] for e in events(out, name)}) == len(events(out, name))

    described = client.get(f"/v1/schedules/{name}").json()
    assert described["last_result"]["status"] == "ok"
    assert described["last_fired_at"] is not None
    disabled = client.post(f"/v1/schedules/{name}/disable").json()
    assert (disabled["enabled"], disabled["next_fire_at"]) == (False, None)
    assert client.delete(f"/v1/schedules/{name}").status_code == 204


def test_each_tick_fires_exactly_once_across_a_server_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    out = Recorder("restart")
    try:
        with server.client() as api:
            function = recorder(api, out)
            add(api, name="once", expression="rate(1 second)", function=f"{function}:prod")
            add(api, name="skip", expression="rate(1 second)", function=f"{function}:1", missed="skip")
        wait_for(lambda: fired(out, "once", 2)() and fired(out, "skip", 2)(), timeout=30)
        killed_at = datetime.now(UTC)
        server.kill()  # SIGKILL: no shutdown of any kind
        before = {name: len(events(out, name)) for name in ("once", "skip")}
        server.start()  # same data folder and port; takes seconds, so ticks are missed meanwhile
        for name in ("once", "skip"):  # 3 ticks on time after the restart
            wait_for(fired(out, name, before[name] + 4), timeout=30, what=f"{name} after restart")
    finally:
        server.stop()

    for name in ("once", "skip"):
        found = events(out, name)
        ticks = [when(e) for e in found]
        assert len(ticks) == len(set(ticks)), f"{name}: a tick fired twice: {sorted(ticks)}"
        assert all(t.microsecond == 0 for t in ticks)
        assert all(e["source"] == "aws.events" for e in found)

    once = events(out, "once")
    individual = {when(e) for e in once if not e["detail"]}
    catch_ups = [e for e in once if e["detail"].get("catchUp")]
    # the restart takes seconds, so some ticks are older than the grace (1.5 s) when it comes back:
    # one invocation stands for all of them
    assert len(catch_ups) <= 1, once
    first_missed = last_missed = None
    if catch_ups:
        detail = catch_ups[0]["detail"]
        first_missed = datetime.strptime(detail["firstMissed"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        last_missed = datetime.strptime(detail["lastMissed"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert when(catch_ups[0]) == last_missed
        assert detail["missedTicks"] == (last_missed - first_missed).seconds + 1
        assert first_missed > min(individual)  # ticks missed while down, not before
    # every tick after the kill is covered, once: fired on its own, or inside the catch-up's range
    tick, last = min(individual), max(individual)
    while tick <= last:
        in_catch_up = (
            first_missed is not None and last_missed is not None and first_missed <= tick <= last_missed
        )
        if tick > killed_at + timedelta(seconds=0.1):
            assert tick in individual or in_catch_up, f"tick {tick} of 'once' never fired"
        assert not (in_catch_up and tick in individual), f"tick {tick} fired on its own and in the catch-up"
        tick += timedelta(seconds=1)

    skip = events(out, "skip")
    assert not any(e["detail"] for e in skip), "a skip schedule fired a catch-up"
    ticks = sorted(when(e) for e in skip)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False) if b - a > timedelta(seconds=1)]
    assert len(gaps) <= 1, ticks  # only the ticks missed while down are missing
    assert len(skip) >= 2 + 4


def test_bad_schedules_are_refused_with_stable_codes(client: httpx.Client) -> None:
    function = recorder(client, Recorder("unused"))
    good = {"name": unique("s"), "expression": "rate(5 minutes)", "function": f"{function}:prod"}
    cases = [
        ({"expression": "rate(5 fortnights)"}, 400, "InvalidScheduleExpression"),
        ({"expression": "cron(0 12 * * * *)"}, 400, "InvalidScheduleExpression"),
        ({"timezone": "Mars/Olympus"}, 400, "InvalidScheduleExpression"),
        ({"missed": "sometimes"}, 400, "InvalidScheduleExpression"),
        ({"function": f"{function}:staging"}, 404, "AliasNotFound"),
        ({"function": f"{function}:7"}, 404, "VersionNotFound"),
        ({"function": "no-such-function:prod"}, 404, "FunctionNotFound"),
        ({"name": "not a name"}, 400, "InvalidName"),
    ]
    for change, status, code in cases:
        response = client.post("/v1/schedules", json={**good, **change})
        assert (response.status_code, error_code(response)) == (status, code), (change, response.text)
    add(client, **good)
    again = client.post("/v1/schedules", json=good)
    assert (again.status_code, error_code(again)) == (409, "AlreadyExists")
    missing = client.get("/v1/schedules/no-such-schedule")
    assert (missing.status_code, error_code(missing)) == (404, "ScheduleNotFound")
    assert client.delete(f"/v1/schedules/{good['name']}").status_code == 204


def test_reading_needs_read_and_changing_needs_deploy(client: httpx.Client) -> None:
    function = recorder(client, Recorder("unused"))
    token = client.post("/v1/tokens", json={"name": unique("reader"), "scopes": ["read"]}).json()["token"]
    body = {"name": unique("s"), "expression": "rate(1 hour)", "function": f"{function}:prod"}
    with httpx.Client(base_url=str(client.base_url), headers={"Authorization": f"Bearer {token}"}) as reader:
        assert reader.get("/v1/schedules").status_code == 200
        assert error_code(reader.post("/v1/schedules", json=body)) == "Forbidden"
        add(client, **body)
        assert error_code(reader.post(f"/v1/schedules/{body['name']}/disable")) == "Forbidden"
        assert error_code(reader.delete(f"/v1/schedules/{body['name']}")) == "Forbidden"
    assert httpx.get(f"{client.base_url}/v1/schedules").status_code == 401
    client.delete(f"/v1/schedules/{body['name']}")


def test_the_cli_adds_lists_toggles_and_removes(client: httpx.Client, quick: Server) -> None:
    function = recorder(client, Recorder("unused"))
    runner = CliRunner()
    env = {"TURNOUT_URL": quick.url, "TURNOUT_TOKEN": quick.token, "COLUMNS": "200", "NO_COLOR": "1"}

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, f"{args}: {result.output}{result.exception!r}"
        return result.output

    name = unique("nightly")
    target = f"{function}:prod"
    out = run(
        "schedule", "add", name, "cron(0 3 * * ? *)", target, "--tz", "Europe/Paris", "--input", '{"a": 1}'
    )
    assert name in out and "cron(0 3 * * ? *)" in out
    listed = json.loads(run("schedule", "ls", "-o", "json"))["schedules"]
    mine = next(s for s in listed if s["name"] == name)
    assert (mine["timezone"], mine["input"], mine["missed"], mine["enabled"]) == (
        "Europe/Paris",
        {"a": 1},
        "fire-once",
        True,
    )
    assert mine["next_fire_at"].endswith("T02:00:00+00:00") or mine["next_fire_at"].endswith(
        "T01:00:00+00:00"
    )
    assert name in run("schedule", "ls")
    run("schedule", "disable", name)
    assert json.loads(run("schedule", "show", name, "-o", "json"))["enabled"] is False
    run("schedule", "enable", name)
    assert json.loads(run("schedule", "show", name, "-o", "json"))["enabled"] is True
    bad = run("schedule", "add", unique("x"), "rate(1 fortnight)", target, code=1)
    assert "InvalidScheduleExpression" in bad
    run("schedule", "add", unique("x"), "rate(1 minute)", target, "--missed", "sometimes", code=2)
    run("schedule", "rm", name)
    assert name not in run("schedule", "ls")


def test_a_queued_schedule_puts_each_tick_on_the_async_queue(client: httpx.Client) -> None:
    out = Recorder("queued")
    function = recorder(client, out)
    name = unique("queued")
    saved = add(client, name=name, expression="rate(1 second)", function=f"{function}:prod", queued=True)
    assert saved["queued"] is True
    ran = wait_for(fired(out, name, 3), timeout=30, what="three queued ticks to run")
    ticks = [when(e) for e in ran]
    assert len(set(ticks)) == len(ticks), "a tick ran twice"
    done = client.get("/v1/events", params={"function": function, "status": "succeeded"}).json()
    assert len(done["events"]) >= 3
    assert client.get(f"/v1/schedules/{name}").json()["last_result"]["status"] == "queued"
    assert client.delete(f"/v1/schedules/{name}").status_code == 204
