"""No client input answers 5xx: schemathesis against the published OpenAPI document, and Hypothesis on
the Lambda API's path and query parameters (huge, negative and non-ASCII numbers, deep JSON).

Both run against a real server (tests/support.py ``Server``) that holds a function with a version and an
alias, so version numbers reach code that reads them; example counts are bounded to keep the file near a
minute on a small machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import HELLO, Server, make_zip

pytestmark = pytest.mark.integration

FN = "fuzzed"
SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)
DEEP = "[" * 100_000 + "]" * 100_000
NUMBERS = st.one_of(
    st.sampled_from(
        ["18446744073709551616", "-18446744073709551616", "-1", "0", "²", "١٢", "2147483648", "1e9", "+1"]
    ),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=25),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("fuzz") / "data").start()
    with running.client() as api:
        sha = api.post("/v1/bundles", content=make_zip({"app.py": HELLO})).json()["sha256"]
        assert api.put(
            f"/v1/functions/{FN}", json={"bundle_sha256": sha, "handler": "app.handler"}
        ).is_success
        assert api.post(f"/v1/functions/{FN}/versions", json={}).status_code == 201
        assert api.put(f"/v1/functions/{FN}/aliases/prod", json={"version": 1}).is_success
    yield running
    running.stop()


def test_no_generated_request_answers_5xx(server: Server) -> None:
    """Every operation of /openapi.json, a few generated requests each (bodies, paths and queries)."""
    api = schemathesis.openapi.from_url(server.url + "/openapi.json")
    failures: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        auth = SIGV4 if operation.path.startswith("/20") else f"Bearer {server.token}"
        _explore(operation, {"Authorization": auth}, failures)
    assert failures == []


def _explore(operation: schemathesis.APIOperation, headers: dict[str, str], failures: list[str]) -> None:
    """A few generated requests to one operation; any 5xx is recorded."""

    @given(case=operation.as_strategy())
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def call(case: schemathesis.Case) -> None:
        response = case.call(headers=headers, timeout=30)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
            )

    call()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/v1/functions/{FN}/versions/18446744073709551616", None),
        ("GET", f"/v1/functions/{FN}/versions/-1", None),
        ("GET", f"/v1/functions/{FN}/versions/²", None),
        ("PUT", f"/v1/functions/{FN}/aliases/staging", {"version": "18446744073709551616"}),
        ("PUT", f"/v1/functions/{FN}/aliases/staging", {"version": 18446744073709551616}),
        ("PUT", f"/v1/functions/{FN}/aliases/staging", {"version": "²"}),
        ("PUT", f"/v1/functions/{FN}/aliases/staging", {"weights": {"18446744073709551616": 100}}),
        ("POST", f"/v1/functions/{FN}/aliases/prod/rollback", {"to": 18446744073709551616}),
        ("POST", f"/v1/functions/{FN}/aliases/prod/rollback", {"to": -18446744073709551616}),
        ("POST", f"/v1/functions/{FN}/invoke?qualifier=18446744073709551616", {}),
        ("POST", f"/v1/functions/{FN}/invoke?qualifier=-18446744073709551616", {}),
        ("POST", f"/v1/functions/{FN}:²/invoke", {}),
        ("POST", "/v1/routes", {"path": "/x", "function": FN, "qualifier": "18446744073709551616"}),
        ("POST", "/v1/routes", {"path": "/y", "function": f"{FN}:-5"}),
        ("GET", "/v1/routes/18446744073709551616", None),
        ("GET", f"/v1/functions/{FN}/versions?after=18446744073709551616", None),
        ("POST", "/v1/schedules", {"name": "s", "expression": "rate(1 hours)", "function": f"{FN}:²"}),
    ],
)
def test_the_issues_inputs_answer_4xx_with_a_code(
    server: Server, method: str, path: str, body: object
) -> None:
    with server.client() as api:
        response = api.request(method, path, json=body)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["code"]
        assert api.get(f"/v1/functions/{FN}/aliases").json()  # still answering


def test_a_100000_deep_array_is_refused_on_every_door(server: Server) -> None:
    with server.client() as api:
        invoked = api.post(f"/v1/functions/{FN}/invoke", content=DEEP)
        assert invoked.status_code == 400 and invoked.json()["error"]["code"] == "InvalidJson"
        queued = api.post(f"/v1/functions/{FN}/invoke?async=true", content=DEEP)
        assert queued.status_code == 400 and queued.json()["error"]["code"] == "InvalidJson"
        body = api.put(
            f"/v1/functions/{FN}/aliases/deep", content=DEEP, headers={"content-type": "application/json"}
        )
        assert body.status_code == 400 and body.json()["error"]["code"] == "InvalidJson"
        assert api.get(f"/v1/functions/{FN}/aliases/deep").status_code == 404  # nothing written
        lambda_invoke = httpx.post(
            f"{server.url}/2015-03-31/functions/{FN}/invocations",
            content=DEEP,
            headers={"Authorization": SIGV4},
        )
        assert lambda_invoke.status_code == 400, lambda_invoke.text
        created = httpx.post(
            f"{server.url}/2015-03-31/functions", content=DEEP, headers={"Authorization": SIGV4}
        )
        assert created.status_code == 400 and created.headers["x-amzn-errortype"]


@given(qualifier=NUMBERS, version=NUMBERS, marker=NUMBERS)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_lambda_api_path_and_query_numbers_never_answer_5xx(
    server: Server, qualifier: str, version: str, marker: str
) -> None:
    with httpx.Client(
        base_url=server.url + "/2015-03-31", headers={"Authorization": SIGV4}, timeout=30
    ) as aws:
        answers = [
            aws.get(f"/functions/{FN}", params={"Qualifier": qualifier}),
            aws.get(f"/functions/{FN}:{qualifier}/configuration"),
            aws.post(f"/functions/{FN}/invocations", params={"Qualifier": qualifier}, content=b"{}"),
            aws.get(f"/functions/{FN}/versions", params={"Marker": marker, "MaxItems": version}),
            aws.get(f"/functions/{FN}/aliases", params={"FunctionVersion": version, "Marker": marker}),
            aws.put(f"/functions/{FN}/aliases/prod", json={"FunctionVersion": version}),
            aws.put(
                f"/functions/{FN}/aliases/prod",
                json={"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {version: 0.1}}},
            ),
            aws.delete(f"/functions/{FN}:{qualifier}"),
        ]
    for answer in answers:
        assert answer.status_code < 500, (answer.request.url, answer.text[:300])


def test_lambda_invoke_of_deep_json_through_the_event_queue_is_refused(server: Server) -> None:
    answer = httpx.post(
        f"{server.url}/2015-03-31/functions/{FN}/invocations",
        content=DEEP,
        headers={"Authorization": SIGV4, "X-Amz-Invocation-Type": "Event"},
    )
    assert answer.status_code == 400, answer.text
