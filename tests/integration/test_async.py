"""Async invocations end to end, through a real `turnout serve` and its workers.

The handler records ``<event id> <version>`` to the :class:`~tests.support.Recorder` named in the event
(``log``) on every attempt, and fails while it holds fewer than ``fail`` records (or always, unless the
``unless`` :class:`~tests.support.Flag` is set): the recorder is both the attempt counter and the proof
that an event ran. (Workers are sandboxed: a function sees no file of the tests', so state goes through a
local HTTP server in the test process.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from tests.integration.lambda_support import lambda_client
from tests.support import (
    FLAG_CODE,
    RECORD_CODE,
    Flag,
    Recorder,
    Server,
    deploy,
    error_code,
    publish,
    unique,
    wait_for,
)
from turnout.cli.main import app

pytestmark = pytest.mark.integration

FAST_ASYNC = {
    "TURNOUT_ASYNC_BACKOFF_MS": "300",  # retries after 0.3 s, 0.6 s
    "TURNOUT_ASYNC_POLL_MS": "100",
    "TURNOUT_ASYNC_LEASE_S": "2",  # a killed server's events are taken again 2 s later
}


def handler_code(version: str) -> dict[str, str]:
    return {
        "app.py": f"VERSION = {version!r}\n"
        + """
import time


def handler(event, context):
    n = _record(event["log"], f"{event.get('id', context.aws_request_id)} {VERSION}")
    time.sleep(event.get("sleep", 0))
    if event.get("unless") and not _flag_is_set(event["unless"]):
        raise RuntimeError(f"attempt {n} fails on purpose")
    if n <= event.get("fail", 0):
        raise RuntimeError(f"attempt {n} fails on purpose")
    return {"n": n, "version": VERSION}
"""
        + "\n\n"
        + RECORD_CODE
        + "\n\n"
        + FLAG_CODE
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("async") / "data", extra_env=FAST_ASYNC).start()
    yield running
    running.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def make_function(api: httpx.Client, versions: int = 1) -> str:
    name = unique("async")
    for n in range(1, versions + 1):
        deploy(api, name, handler_code(str(n)))
        publish(api, name)
    assert api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1}).status_code in (200, 201)
    return name


def enqueue(api: httpx.Client, target: str, event: dict[str, Any], header: bool = False) -> str:
    if header:
        response = api.post(
            f"/v1/functions/{target}/invoke", json=event, headers={"X-Turnout-Invocation-Type": "Event"}
        )
    else:
        response = api.post(f"/v1/functions/{target}/invoke?async=true", json=event)
    assert response.status_code == 202, response.text
    request_id = response.json()["request_id"]
    assert response.headers["x-turnout-request-id"] == request_id
    return str(request_id)


def event_of(api: httpx.Client, event_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/events/{event_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def settled(api: httpx.Client, event_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        event = event_of(api, event_id)
        return event if event["status"] == status else None

    return wait_for(check, timeout=timeout, what=f"event {event_id} {status}")


def lines(log: Recorder) -> list[str]:
    return [str(line) for line in log.records()]


def test_a_handler_that_fails_twice_then_succeeds_is_retried_and_completes(api: httpx.Client) -> None:
    name = make_function(api)
    counter = Recorder("counter")
    started = time.monotonic()
    event_id = enqueue(api, f"{name}:prod", {"log": str(counter), "fail": 2})
    assert time.monotonic() - started < 2  # answered at once, not after the retries

    event = settled(api, event_id, "succeeded")
    assert len(lines(counter)) == 3
    assert event["attempts"] == 3 and event["version"] == 1
    assert [a["outcome"] for a in event["attempt_log"]] == ["Function.Unhandled"] * 2 + ["Success"]
    assert [a["version"] for a in event["attempt_log"]] == ["1", "1", "1"]
    assert all(a["duration_ms"] >= 0 and a["started_at"] for a in event["attempt_log"])


def test_an_event_that_always_fails_is_dead_lettered_with_its_error_and_can_be_redriven(
    api: httpx.Client,
) -> None:
    name = make_function(api)
    counter, flag = Recorder("counter"), Flag("fixed")
    event_id = enqueue(api, name, {"log": str(counter), "unless": str(flag)}, header=True)

    dead = settled(api, event_id, "dead")
    assert dead["attempts"] == 3 and len(lines(counter)) == 3
    assert dead["last_error"]["code"] == "Function.Unhandled"
    assert "fails on purpose" in dead["last_error"]["message"]
    assert dead["last_error"]["reason"].startswith("RetriesExhausted")
    listed = api.get("/v1/events", params={"status": "dead", "function": name}).json()["events"]
    assert [e["id"] for e in listed] == [event_id]

    flag.touch()  # the "fix"
    redriven = api.post(f"/v1/events/{event_id}/redrive")
    assert redriven.status_code == 200 and redriven.json()["status"] == "queued"
    done = settled(api, event_id, "succeeded")
    assert done["attempts"] == 1 and len(done["attempt_log"]) == 4  # the log keeps the dead attempts
    assert api.get("/v1/events", params={"status": "dead", "function": name}).json()["events"] == []
    again = api.post(f"/v1/events/{event_id}/redrive")
    assert again.status_code == 400  # only dead events redrive


def test_retries_stay_on_the_first_version_across_an_alias_move(api: httpx.Client) -> None:
    name = make_function(api, versions=2)
    counter = Recorder("counter")
    event_id = enqueue(api, f"{name}:prod", {"log": str(counter), "fail": 2, "id": "e"})
    wait_for(lambda: len(lines(counter)) >= 1, what="the first attempt")
    moved = api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 2})
    assert moved.status_code == 200, moved.text

    event = settled(api, event_id, "succeeded")
    assert lines(counter) == ["e 1", "e 1", "e 1"]
    assert [a["version"] for a in event["attempt_log"]] == ["1", "1", "1"]
    assert event["version"] == 1
    # a new event follows the alias
    fresh = Recorder("fresh")
    settled(api, enqueue(api, f"{name}:prod", {"log": str(fresh), "id": "f"}), "succeeded")
    assert lines(fresh) == ["f 2"]


def test_bad_requests_are_refused_before_they_are_queued(api: httpx.Client) -> None:
    name = make_function(api)
    missing = api.post(f"/v1/functions/{unique('nope')}/invoke?async=true", json={})
    assert missing.status_code == 404 and error_code(missing) == "FunctionNotFound"
    no_alias = api.post(f"/v1/functions/{name}:nope/invoke?async=true", json={})
    assert no_alias.status_code == 404 and error_code(no_alias) == "AliasNotFound"
    not_json = api.post(f"/v1/functions/{name}/invoke?async=true", content=b"{nope")
    assert not_json.status_code == 400 and error_code(not_json) == "InvalidRequestContent"
    assert api.get("/v1/events/no-such-event").status_code == 404
    assert error_code(api.get("/v1/events/no-such-event")) == "EventNotFound"
    assert api.get("/v1/events", params={"status": "bogus"}).status_code == 400


def test_an_event_whose_function_is_gone_is_dead_lettered_with_the_reason(api: httpx.Client) -> None:
    name = make_function(api)
    counter = Recorder("counter")
    event_id = enqueue(api, f"{name}:prod", {"log": str(counter), "fail": 5})
    wait_for(lambda: len(lines(counter)) >= 1, what="the first attempt")
    assert api.delete(f"/v1/functions/{name}").status_code in (200, 204)
    dead = settled(api, event_id, "dead")
    assert dead["last_error"]["code"] == "FunctionNotFound"
    assert dead["last_error"]["reason"].startswith("FunctionNotFound")


def test_the_lambda_api_event_invocation_goes_through_the_queue(server: Server, api: httpx.Client) -> None:
    name = make_function(api)
    counter = Recorder("counter")
    response = lambda_client(server.url).invoke(
        FunctionName=name,
        Qualifier="prod",
        InvocationType="Event",
        Payload=json.dumps({"log": str(counter), "fail": 1}).encode(),
    )
    assert response["StatusCode"] == 202
    event = settled(api, response["ResponseMetadata"]["RequestId"], "succeeded")
    assert event["attempts"] == 2 and event["qualifier"] == "prod"


def test_cli_invoke_async_and_dlq(server: Server, api: httpx.Client) -> None:
    name = make_function(api)
    runner = CliRunner()
    env = {"TURNOUT_URL": server.url, "TURNOUT_TOKEN": server.token, "COLUMNS": "200", "NO_COLOR": "1"}

    def cli(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, f"{args}: {result.output}{result.exception!r}"
        return result.output

    counter, flag = Recorder("counter"), Flag("fixed")
    payload = json.dumps({"log": str(counter), "unless": str(flag)})
    event_id = cli("invoke", f"{name}:prod", "--async", "-d", payload).strip()
    settled(api, event_id, "dead")
    assert event_id in cli("dlq", "ls", name)
    assert [e["id"] for e in json.loads(cli("dlq", "ls", name, "-o", "json"))["events"]] == [event_id]
    shown = cli("dlq", "show", event_id)
    assert "RetriesExhausted" in shown and "Function.Unhandled" in shown
    flag.touch()
    assert "redrove 1 event" in cli("dlq", "redrive", "--all", name)
    settled(api, event_id, "succeeded")

    other = cli(
        "invoke", name, "--async", "-d", json.dumps({"log": str(Recorder("x")), "unless": str(Flag("never"))})
    )
    settled(api, other.strip(), "dead")
    assert "purged 1 event" in cli("dlq", "purge", name)
    assert json.loads(cli("dlq", "ls", name, "-o", "json"))["events"] == []
    assert api.get(f"/v1/events/{other.strip()}").status_code == 404


def test_no_event_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_env=FAST_ASYNC).start()
    try:
        with server.client() as api:
            name = make_function(api)
            seen = Recorder("seen")
            ids = [
                enqueue(api, f"{name}:prod", {"log": str(seen), "id": f"e{i}", "sleep": 0.2})
                for i in range(40)
            ]
            wait_for(lambda: len(lines(seen)) >= 3, what="some events running")
        server.kill()  # SIGKILL: some events ran, some are running, the rest are queued
        ran_before = {line.split()[0] for line in lines(seen)}
        assert len(ran_before) < len(ids)

        server.start()
        with server.client() as api:
            for event_id in ids:
                settled(api, event_id, "succeeded", timeout=40)
        done = {line.split()[0] for line in lines(seen)}
        assert done == {f"e{i}" for i in range(40)}  # at least once each
    finally:
        server.stop()


OVERLAP = {
    "app.py": """
import time


def handler(event, context):
    if "log" in event:
        _record(event["log"], f"{time.time()} 1")
        time.sleep(event["sleep"])
        _record(event["log"], f"{time.time()} -1")
    return {"ok": True}
"""
    + "\n\n"
    + RECORD_CODE
}


def test_a_backlog_takes_at_most_half_the_concurrency_and_sync_calls_still_run(api: httpx.Client) -> None:
    name = unique("async")
    deploy(api, name, OVERLAP)
    marks = Recorder("marks")
    ids = [enqueue(api, name, {"log": str(marks), "sleep": 0.25}) for _ in range(24)]
    for _ in range(10):  # synchronous calls while the backlog drains: never throttled
        response = api.post(f"/v1/functions/{name}/invoke", json={})
        assert response.status_code == 200, response.text
    for event_id in ids:
        settled(api, event_id, "succeeded")
    running, most = 0, 0
    for line in sorted(lines(marks), key=lambda text: float(text.split()[0])):
        running += int(line.split()[1])
        most = max(most, running)
    assert 2 <= most <= 8  # half of the default limit of 16


def test_succeeded_events_are_deleted_after_the_retention_and_dead_letters_stay(tmp_path: Path) -> None:
    retention = {**FAST_ASYNC, "TURNOUT_ASYNC_RETENTION_S": "2", "TURNOUT_ASYNC_MAX_RETRIES": "0"}
    short = Server(tmp_path / "data", extra_env=retention).start()
    try:
        with short.client() as api:
            name = make_function(api)
            done = enqueue(api, f"{name}:prod", {"log": str(Recorder("ok"))})
            dead = enqueue(api, f"{name}:prod", {"log": str(Recorder("dead")), "unless": str(Flag("never"))})
            settled(api, done, "succeeded")
            settled(api, dead, "dead")
            wait_for(
                lambda: api.get(f"/v1/events/{done}").status_code == 404,
                timeout=20,
                what="the succeeded event to be deleted",
            )
            assert event_of(api, dead)["status"] == "dead"  # dead letters wait for a person
    finally:
        short.stop()


RECORDER = {
    "app.py": """
def handler(event, context):
    _record(event["requestPayload"]["record_to"], event)
    return {"recorded": True}
"""
    + "\n\n"
    + RECORD_CODE
}


def test_destinations_get_lambdas_record_of_successes_and_of_failures_for_good(api: httpx.Client) -> None:
    name = make_function(api)
    sink = unique("sink")
    deploy(api, sink, RECORDER)
    publish(api, sink)
    body = {"on_success": sink, "on_failure": f"{sink}:1", "max_retries": 0}
    put = api.put(f"/v1/functions/{name}/async-config/prod", json=body)
    assert put.status_code == 200, put.text
    assert put.json() | {"function": name} == {
        **body,
        "qualifier": "prod",
        "max_age_s": None,
        "function": name,
    }

    ok_to, failed_to, b_log = Recorder("ok"), Recorder("failed"), Recorder("b")
    good = enqueue(api, f"{name}:prod", {"log": str(Recorder("a")), "record_to": str(ok_to)})
    bad = enqueue(
        api,
        f"{name}:prod",
        {"log": str(b_log), "unless": str(Flag("never")), "record_to": str(failed_to)},
    )
    settled(api, good, "succeeded")
    dead = settled(api, bad, "dead")
    assert dead["attempts"] == 1  # max_retries 0 replaced the server's 2 retries
    wait_for(lambda: ok_to.records() and failed_to.records(), timeout=20, what="both destination records")

    [success] = ok_to.records()
    assert success["requestContext"] == {
        "requestId": good,
        "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}:prod",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert success["requestPayload"]["record_to"] == str(ok_to)
    assert success["responseContext"] == {"statusCode": 200, "executedVersion": "1"}
    assert success["responsePayload"] == {"n": 1, "version": "1"}
    [failure] = failed_to.records()
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["requestId"] == bad
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["responsePayload"]["errorType"] == "RuntimeError"
    assert "fails on purpose" in failure["responsePayload"]["errorMessage"]
    assert len(lines(b_log)) == 1  # one attempt, then the destination: no dead-letter retry
    assert api.get(f"/v1/functions/{name}/async-config").json()["configs"][0]["on_success"] == sink


def test_bad_async_configs_are_refused(api: httpx.Client) -> None:
    name = make_function(api)
    cases = [
        ({"on_success": "no-such-function"}, 404, "FunctionNotFound"),
        ({"on_failure": name}, 400, "InvalidParameterValue"),
        ({"max_retries": 3}, 400, "InvalidParameterValue"),
        ({"max_age_s": 30}, 400, "InvalidParameterValue"),
        ({"colour": "blue"}, 400, "InvalidParameterValue"),
    ]
    for body, status, code in cases:
        response = api.put(f"/v1/functions/{name}/async-config/prod", json=body)
        assert (response.status_code, error_code(response)) == (status, code), body
    missing = api.put(f"/v1/functions/{name}/async-config/staging", json={})
    assert (missing.status_code, error_code(missing)) == (404, "AliasNotFound")
    assert api.get(f"/v1/functions/{name}/async-config").json()["configs"] == []
    none = api.get(f"/v1/functions/{name}/async-config/prod")
    assert (none.status_code, error_code(none)) == (404, "EventConfigNotFound")


def test_boto3_event_invoke_configs(server: Server, api: httpx.Client) -> None:
    name = make_function(api)
    sink = unique("sink")
    deploy(api, sink, RECORDER)
    publish(api, sink)
    aws = lambda_client(server.url)
    sink_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{sink}"
    put = aws.put_function_event_invoke_config(
        FunctionName=name,
        Qualifier="prod",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": sink_arn}},
    )
    assert put["FunctionArn"].endswith(f":function:{name}:prod")
    assert put["MaximumRetryAttempts"] == 1 and "MaximumEventAgeInSeconds" not in put
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": sink_arn}}
    updated = aws.update_function_event_invoke_config(
        FunctionName=name, Qualifier="prod", MaximumEventAgeInSeconds=600
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 600)  # kept + added
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": sink_arn}
    got = aws.get_function_event_invoke_config(FunctionName=f"{name}:prod")
    assert got["MaximumEventAgeInSeconds"] == 600 and got["LastModified"]
    listed = aws.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed] == ["prod"]
    with pytest.raises(ClientError) as queue_destination:
        aws.put_function_event_invoke_config(
            FunctionName=name,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}},
        )
    assert queue_destination.value.response["Error"]["Code"] == "InvalidParameterValueException"
    aws.delete_function_event_invoke_config(FunctionName=name, Qualifier="prod")
    with pytest.raises(ClientError) as gone:
        aws.get_function_event_invoke_config(FunctionName=name, Qualifier="prod")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
