"""Invocation logs (`GET …/logs`, `turnout logs`) and Prometheus metrics (`GET /metrics`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.support import (
    FLAG_CODE,
    Flag,
    Server,
    deploy,
    error_code,
    gone,
    in_background,
    publish,
    unique,
    wait_for,
)
from turnout.cli.main import app
from turnout.domain.config import FunctionConfig
from turnout.gateway.invoke import Record
from turnout.gateway.logs import LogSink, parse_since
from turnout.runtime.supervisor import Outcome, Target

CHATTY = """\
import logging
import os
import sys
import time

MARKER = {marker!r}
log = logging.getLogger("chatty")


def handler(event, context):
    print("out:", event.get("name"), MARKER)
    print("err:", event.get("name"), file=sys.stderr)
    log.warning("logged: %s", event.get("name"))
    if event.get("started"):
        _set_flag(event["started"])
    if event.get("wait_for"):
        deadline = time.time() + 20
        while not _flag_is_set(event["wait_for"]) and time.time() < deadline:
            time.sleep(0.01)
    if event.get("fail"):
        raise ValueError("boom")
    return {{"marker": MARKER}}
"""
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def release(api: httpx.Client, name: str, marker: str) -> int:
    deploy(api, name, {"app.py": CHATTY.format(marker=marker) + "\n\n" + FLAG_CODE})
    return int(publish(api, name)["version"])


def invoke(api: httpx.Client, name: str, qualifier: str, /, **event: Any) -> httpx.Response:
    return api.post(f"/v1/functions/{name}/invoke", params={"qualifier": qualifier}, json=event)


def logs(api: httpx.Client, name: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/v1/functions/{name}/logs", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [r["request_id"] for r in page["records"]]


def wait_for_records(api: httpx.Client, name: str, count: int, **params: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        page = logs(api, name, **params)
        return page if len(page["records"]) >= count else None

    return wait_for(check, what=f"{count} log records of {name}")


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(client: httpx.Client) -> Samples:
    """The server's metrics; every Turnout series must carry the `node` label (the node's name), which
    is then left out so tests name only the labels they are about."""
    node = client.get("/v1/health").json()["node"]
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for (name, labels), number in samples(response.text).items():
        if name.startswith("turnout_"):
            assert dict(labels).get("node") == node, (name, labels)
            labels = frozenset((k, v) for k, v in labels if k != "node")
        found[(name, labels)] = number
    return found


# ---------------------------------------------------------------------------------------------- logs


@pytest.fixture(scope="module")
def chatty(server: Server) -> Iterator[tuple[str, list[str], list[bool]]]:
    """A function with two versions, invoked three times: v1 ok, v2 ok, v1 failing."""
    name = unique("chatty")
    with server.client() as api:
        assert release(api, name, "v1") == 1
        assert release(api, name, "v2") == 2
        first = invoke(api, name, "1", name="ada")
        second = invoke(api, name, "2", name="bob")
        third = invoke(api, name, "1", name="cy", fail=True)
        assert [first.status_code, second.status_code, third.status_code] == [200, 200, 502]
        calls = (first, second, third)
        yield (
            name,
            [r.headers["x-turnout-request-id"] for r in calls],
            ["x-turnout-init-duration" in r.headers for r in calls],
        )


def test_each_invocation_is_logged_with_its_request_id_version_and_text(
    api: httpx.Client, chatty: tuple[str, list[str], list[bool]]
) -> None:
    name, (first, second, third), colds = chatty
    page = wait_for_records(api, name, 3)
    assert ids(page) == [first, second, third]  # oldest first
    ada, bob, cy = page["records"]
    assert (ada["version"], bob["version"], cy["version"]) == ("1", "2", "1")
    assert ada["function"] == name and ada["qualifier"] == "1"
    for text in ("out: ada v1\n", "err: ada\n", "[WARNING]", "chatty: logged: ada"):
        assert text in ada["text"]
    assert "out: bob v2" in bob["text"]
    assert ada["duration_ms"] > 0
    assert "error" not in ada and cy["error"] == "Function.Unhandled"
    assert "[ERROR] ValueError: boom\nTraceback (most recent call last):\n" in cy["text"]
    assert 'raise ValueError("boom")' in cy["text"]
    assert ["init_ms" in r for r in page["records"]] == colds
    assert colds[0] and colds[1] and not colds[2]  # each version's first invocation was a cold start
    assert ada["time"] <= bob["time"] <= cy["time"] and ada["time"].endswith("Z")
    here = api.get("/v1/health").json()["node"]  # one node: its name on each record, nothing missing
    assert {r["node"] for r in page["records"]} == {here}
    assert (page["nodes"], page["missing_nodes"]) == ([here], [])


def test_logs_filter_by_version_request_id_since_and_limit(
    api: httpx.Client, chatty: tuple[str, list[str], list[bool]]
) -> None:
    name, (first, second, third), colds = chatty
    wait_for_records(api, name, 3)
    assert ids(logs(api, name, version=2)) == [second]
    assert ids(logs(api, name, version=1)) == [first, third]
    assert ids(logs(api, name, version="$LATEST")) == []
    assert ids(logs(api, name, request_id=third)) == [third]
    assert ids(logs(api, name, limit=2)) == [second, third]  # the newest, oldest first
    assert ids(logs(api, name, since="1h")) == [first, second, third]
    assert ids(logs(api, name, since="2999-01-01T00:00:00Z")) == []
    bad = api.get(f"/v1/functions/{name}/logs", params={"version": "two"})
    assert (bad.status_code, error_code(bad)) == (400, "InvalidParameterValue")
    bad = api.get(f"/v1/functions/{name}/logs", params={"since": "yesterday"})
    assert (bad.status_code, error_code(bad)) == (400, "InvalidParameterValue")


def test_the_after_cursor_gives_only_newer_records(api: httpx.Client) -> None:
    name = unique("cursor")
    release(api, name, "v1")
    invoke(api, name, "1", name="one")
    cursor = wait_for_records(api, name, 1)["next"]
    assert logs(api, name, after=cursor)["records"] == []
    newer = [invoke(api, name, "1", name=n).headers["x-turnout-request-id"] for n in ("two", "three")]
    page = wait_for_records(api, name, 2, after=cursor)
    assert ids(page) == newer
    assert logs(api, name, after=page["next"])["records"] == []
    step = logs(api, name, after=cursor, limit=1)  # paging forward, one at a time
    assert ids(step) == newer[:1]
    assert ids(logs(api, name, after=step["next"])) == newer[1:]
    assert ids(logs(api, name, after=0)) == ids(logs(api, name))  # from the start
    for bad in ("not-a-cursor", "-1"):
        refused = api.get(f"/v1/functions/{name}/logs", params={"after": bad})
        assert (refused.status_code, error_code(refused)) == (400, "InvalidParameterValue")


def test_logs_of_an_unknown_function_are_404(api: httpx.Client) -> None:
    response = api.get("/v1/functions/no-such-fn/logs")
    assert (response.status_code, error_code(response)) == (404, "FunctionNotFound")


def test_a_deleted_function_takes_its_workers_logs_and_metrics_with_it(
    server: Server, api: httpx.Client
) -> None:
    name = unique("gone")
    release(api, name, "old")
    first = invoke(api, name, "1", name="before")
    assert first.status_code == 200
    wait_for_records(api, name, 1)
    log_file = server.data_dir / "logs" / f"{name}.jsonl"
    assert log_file.exists()
    assert value(scrape(api), "turnout_invocations_total", function=name, version="1", outcome="success") == 1
    pids = [pid for pool in api.get(f"/v1/functions/{name}/workers").json()["pools"] for pid in pool["pids"]]
    assert pids
    assert api.delete(f"/v1/functions/{name}").status_code == 204
    wait_for(lambda: all(gone(pid) for pid in pids), what="the deleted function's workers to stop")
    wait_for(lambda: not log_file.exists(), what="the deleted function's log file to go")
    wait_for(
        lambda: not any(labels and dict(labels).get("function") == name for _, labels in scrape(api)),
        what="the deleted function's metric series to go",
    )
    release(api, name, "new")  # the same name, a new function
    second = invoke(api, name, "1", name="after")
    page = wait_for_records(api, name, 1)
    assert ids(page) == [second.headers["x-turnout-request-id"]]
    assert "out: after new" in page["records"][0]["text"]
    found = scrape(api)
    assert value(found, "turnout_invocations_total", function=name, version="1", outcome="success") == 1


def test_logs_need_a_token(server: Server) -> None:
    assert httpx.get(f"{server.url}/v1/functions/x/logs").status_code == 401


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(server: Server, tmp_path: Path) -> dict[str, str]:
    return {
        "TURNOUT_URL": server.url,
        "TURNOUT_TOKEN": server.token,
        "TURNOUT_DATA_DIR": str(tmp_path / "no-server-here"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


def test_turnout_logs_prints_headers_and_text(
    api: httpx.Client, chatty: tuple[str, list[str], list[bool]], cli_env: dict[str, str]
) -> None:
    name, (first, second, third), colds = chatty
    wait_for_records(api, name, 3)
    runner = CliRunner()
    result = runner.invoke(app, ["logs", name], env=cli_env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if first in line)
    assert header.index("[1]") < header.index(first)
    assert "out: ada v1" in result.output and "err: bob" in result.output
    assert any(third in line and "Function.Unhandled" in line for line in lines)

    only_two = runner.invoke(app, ["logs", name, "--version", "2"], env=cli_env)
    assert only_two.exit_code == 0, only_two.output
    assert second in only_two.output and first not in only_two.output and "out: ada" not in only_two.output

    as_json = runner.invoke(app, ["logs", name, "-n", "2", "-o", "json"], env=cli_env)
    assert as_json.exit_code == 0, as_json.output
    assert [json.loads(line)["request_id"] for line in as_json.output.splitlines()] == [second, third]

    missing = runner.invoke(app, ["logs", "no-such-fn"], env=cli_env)
    assert missing.exit_code == 1
    assert "FunctionNotFound" in missing.output


def test_turnout_logs_follow_prints_new_invocations_until_interrupted(
    api: httpx.Client, cli_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("follow")
    release(api, name, "v1")
    before = invoke(api, name, "1", name="before").headers["x-turnout-request-id"]
    wait_for_records(api, name, 1)
    out = tmp_path / "follow.out"
    with open(out, "wb") as sink:
        follower = subprocess.Popen(
            [sys.executable, "-m", "turnout", "logs", name, "--follow"],
            env={**_base_env(), **cli_env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: before in out.read_text(), what="the existing record")
        after = invoke(api, name, "1", name="later").headers["x-turnout-request-id"]
        wait_for(lambda: after in out.read_text(), what="the new record")
        assert "out: later v1" in out.read_text()
    finally:
        follower.send_signal(signal.SIGINT)
        code = follower.wait(timeout=20)
    assert code == 0, out.read_text()
    assert out.read_text().count(before) == 1


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}


# ---------------------------------------------------------------------------------------------- metrics


def test_metrics_count_invocations_errors_cold_starts_and_durations(
    api: httpx.Client, server: Server
) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401  # read scope unless METRICS_PUBLIC
    good, bad = unique("good"), unique("bad")
    release(api, good, "v1")
    release(api, bad, "v1")
    cold = [invoke(api, good, "1", name=str(i)) for i in range(3)]
    assert all(r.status_code == 200 for r in cold)
    failed = invoke(api, bad, "1", fail=True)
    assert (failed.status_code, error_code(failed)) == (502, "Function.Unhandled")
    colds = sum("x-turnout-init-duration" in r.headers for r in cold)
    assert colds >= 1

    found = scrape(api)
    g, b = {"function": good, "version": "1"}, {"function": bad, "version": "1"}
    assert value(found, "turnout_invocations_total", **g, outcome="success") == 3
    assert value(found, "turnout_invocations_total", **g, outcome="error") == 0
    assert value(found, "turnout_invocations_total", **b, outcome="error") == 1
    assert value(found, "turnout_errors_total", **b, code="Function.Unhandled") == 1
    assert value(found, "turnout_errors_total", **g, code="Function.Unhandled") == 0
    assert value(found, "turnout_cold_starts_total", **g) == colds
    assert value(found, "turnout_init_duration_seconds_count", **g) == colds
    assert value(found, "turnout_init_duration_seconds_sum", **g) > 0

    assert value(found, "turnout_invocation_duration_seconds_count", **g) == 3
    assert value(found, "turnout_invocation_duration_seconds_count", **b) == 1
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (metric, labels), count in found.items()
        if metric == "turnout_invocation_duration_seconds_bucket" and dict(labels)["function"] == good
    )
    assert buckets[-1] == (float("inf"), 3)
    assert [c for _, c in buckets] == sorted(c for _, c in buckets)  # cumulative
    assert value(found, "turnout_concurrent_executions", function=good) == 0
    assert any(metric == "process_resident_memory_bytes" for metric, _ in found)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One invocation of a function at a time, no queue for another; /metrics without a token."""
    running = Server(
        tmp_path_factory.mktemp("single") / "data",
        extra_env={
            "TURNOUT_FUNCTION_CONCURRENCY": "1",
            "TURNOUT_QUEUE_LENGTH": "0",
            "TURNOUT_METRICS_PUBLIC": "1",
        },
    ).start()
    yield running
    running.stop()


def test_throttles_and_concurrent_executions_are_counted(single: Server, tmp_path: Path) -> None:
    name = unique("busy")
    public = httpx.Client(base_url=single.url, timeout=30)  # no token: the metrics are public here
    with single.client() as api, public:
        release(api, name, "v1")
        started, gate = Flag("started"), Flag("gate")

        def slow() -> httpx.Response:
            with single.client() as other:
                return invoke(other, name, "1", started=str(started), wait_for=str(gate))

        held = in_background(slow)
        wait_for(started.exists, what="the slow invocation to start")
        throttled = invoke(api, name, "1")
        assert (throttled.status_code, error_code(throttled)) == (429, "Throttled")
        during = scrape(public)
        gate.touch()
        assert held().status_code == 200
        after = scrape(public)
    assert value(during, "turnout_concurrent_executions", function=name) == 1
    assert value(after, "turnout_concurrent_executions", function=name) == 0
    assert value(after, "turnout_throttles_total", function=name, version="1") == 1
    assert value(after, "turnout_invocations_total", function=name, version="1", outcome="success") == 1
    assert value(after, "turnout_invocations_total", function=name, version="1", outcome="error") == 0


# ---------------------------------------------------------------------------------------------- the sink


def _record(number: int, text: str = "", version: str = "1") -> Record:
    target = Target("fn", int(version), FunctionConfig(handler="app.handler"), "0" * 64)
    return Record(f"req-{number}", target, None, Outcome(version, logs=text or f"line {number}\n"))


def _written(sink: LogSink, records: list[Record]) -> None:
    sink.start()
    for record in records:
        sink(record)
    sink.close()  # writes everything queued


def test_the_log_rotates_and_cursors_survive_rotation(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, max_bytes=4096)
    _written(sink, [_record(n, "x" * 100) for n in range(10)])
    cursor = sink.read("fn").next
    _written(sink, [_record(n, "x" * 100) for n in range(10, 80)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fn.jsonl", "fn.jsonl.1"]
    assert all(p.stat().st_size <= 4096 for p in tmp_path.iterdir())

    kept = sink.read("fn", after=0, limit=1000).records
    numbers = [int(r["request_id"].split("-")[1]) for r in kept]
    assert numbers == list(range(numbers[0], 80)) and numbers[0] > 10  # the oldest were rotated away
    assert [r["request_id"] for r in sink.read("fn", limit=3).records] == ["req-77", "req-78", "req-79"]
    # a cursor from before two rotations restarts at the oldest record kept; a recent one goes on exactly
    assert sink.read("fn", after=cursor, limit=1000).records == kept
    middle = sink.read("fn", after=0, limit=5)
    rest = sink.read("fn", after=middle.next, limit=1000)
    assert middle.records + rest.records == kept

    reopened = LogSink(tmp_path, max_bytes=4096)  # a restart goes on with the same cursors
    _written(reopened, [_record(80)])
    assert [r["request_id"] for r in reopened.read("fn", after=rest.next).records] == ["req-80"]


def test_a_torn_last_line_is_skipped_and_the_text_is_capped(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, max_bytes=1 << 30)
    _written(sink, [_record(1)])
    with open(tmp_path / "fn.jsonl", "ab") as log:
        log.write(b'{"time":"2020-01-01T00:00:00.000Z","request_id":"torn')  # a crash mid-write
    page = sink.read("fn")
    assert [r["request_id"] for r in page.records] == ["req-1"]
    assert sink.read("fn", after=page.next).records == []
    huge = "y" * (2 * 1024 * 1024)
    _written(LogSink(tmp_path, max_bytes=1 << 30), [_record(2, huge)])
    found = sink.read("fn", after=page.next).records
    assert [r["request_id"] for r in found] == ["req-2"]
    assert len(found[0]["text"]) < 300 * 1024 and "were dropped" in found[0]["text"]


def test_since_takes_ages_and_iso_times() -> None:
    now = 1_700_000_000.0
    assert parse_since("90", now) == parse_since("1.5m", now) == "2023-11-14T22:11:50.000Z"
    assert parse_since("2h", now) == "2023-11-14T20:13:20.000Z"
    assert parse_since("2024-05-01T12:00:00+02:00") == "2024-05-01T10:00:00.000Z"
    assert parse_since("2024-05-01T12:00:00") == "2024-05-01T12:00:00.000Z"
