"""Rollouts end to end: a real server, real workers and generated load through the alias.

The server ticks its controller every 100 ms so bakes of a few seconds are enough; every wait polls
until a deadline.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import FAST_ROLLOUTS
from tests.integration.rollout_support import (
    alias_target,
    finished,
    load,
    start,
    status,
    two_versions,
    versioned,
)
from tests.integration.runtime_support import point, release
from tests.support import Server, error_code, unique, wait_for

pytestmark = pytest.mark.integration


def test_a_healthy_candidate_is_promoted_through_every_step(quick: Server, client: httpx.Client) -> None:
    name = unique("healthy")
    baseline, candidate = two_versions(client, name, versioned("v2"))
    steps = [{"weight": 20, "bake_s": 2}, {"weight": 50, "bake_s": 2}]
    gates = {"max_error_rate_increase": 0.01, "max_p99_ratio": 5.0, "min_invocations": 20}
    with load(quick, name) as seen:
        started = start(client, name, to=candidate, strategy="steps", steps=steps, gates=gates, window_s=10)
        assert (started["state"], started["baseline"], started["candidate"]) == (
            "pending",
            baseline,
            candidate,
        )
        final = finished(client, name)
    assert final["state"] == "succeeded", final["reason"]
    assert alias_target(client, name) == str(candidate)
    moves = [h["routing"] for h in final["history"] if h["routing"]]
    assert moves == [
        f"{baseline} (80%), {candidate} (20%)",
        f"{baseline} (50%), {candidate} (50%)",
        str(candidate),
    ]
    assert seen.failures == [] and set(seen.statuses) == {200}, (seen.statuses, seen.errors)
    assert seen.versions[str(baseline)] > 0 and seen.versions[str(candidate)] > 0
    history = client.get(f"/v1/functions/{name}/aliases/prod/history").json()["history"]
    assert [h["action"] for h in history[:3]] == ["rollout", "rollout", "rollout"]
    assert all(h["actor"] == "rollout" for h in history[:3])


def test_a_candidate_failing_30_percent_is_rolled_back_by_itself(quick: Server, client: httpx.Client) -> None:
    name = unique("flaky")
    baseline, candidate = two_versions(client, name, versioned("v2", fail_rate=0.3))
    gates = {"max_error_rate_increase": 0.01, "min_invocations": 40}
    with load(quick, name) as seen:
        start(client, name, to=candidate, strategy="canary", weight=30, bake_s=60, gates=gates, window_s=30)
        final = finished(client, name, timeout=60)
        after_rollback = seen.total
        wait_for(lambda: seen.total > after_rollback + 50, what="more traffic after the rollback")
    assert final["state"] == "rolled-back", final["reason"]
    assert "relative_error_rate" in final["reason"]
    assert alias_target(client, name) == str(baseline)
    rollback = client.get(f"/v1/functions/{name}/aliases/prod/history").json()["history"][0]
    assert (rollback["action"], rollback["actor"], rollback["after_target"]) == (
        "rollback",
        "rollout",
        str(baseline),
    )
    figures = rollback["details"]["figures"]
    assert figures["candidate.error_rate"] > 0.1 and figures["relative_error_rate.p_value"] < 0.01
    assert seen.errors["Function.Unhandled"] > 0 and seen.versions[str(candidate)] > 0


def test_a_candidate_five_times_slower_fails_the_latency_gate(quick: Server, client: httpx.Client) -> None:
    name = unique("slow")
    baseline, candidate = two_versions(
        client, name, versioned("v2", sleep_s=0.05), baseline=versioned("v1", sleep_s=0.01)
    )
    gates = {"max_p99_ratio": 2.0, "min_invocations": 20}
    with load(quick, name, clients=4):
        start(client, name, to=candidate, strategy="canary", weight=50, bake_s=60, gates=gates, window_s=30)
        final = finished(client, name, timeout=60)
    assert final["state"] == "rolled-back", final["reason"]
    assert "relative_p99" in final["reason"]
    assert alias_target(client, name) == str(baseline)
    metrics = final["history"][-2]["figures"]
    assert metrics["candidate.p99_ms"] > 2 * metrics["baseline.p99_ms"]


def test_a_failing_pre_traffic_hook_keeps_every_user_request_off_the_candidate(
    quick: Server, client: httpx.Client
) -> None:
    name = unique("prehook")
    baseline, candidate = two_versions(client, name, versioned("v2", fail_rate=1.0))
    with load(quick, name) as seen:
        start(
            client, name, to=candidate, strategy="all-at-once", pre_hook={"events": [{"n": 1}]}, no_gates=True
        )
        final = finished(client, name, timeout=30)
    assert final["state"] == "failed", final["reason"]
    assert "pre-traffic hook" in final["reason"] and "the alias never moved" in final["reason"]
    assert set(seen.versions) == {str(baseline)} and set(seen.statuses) == {200}
    assert final["metrics"]["candidate"]["invocations"] == 0
    assert alias_target(client, name) == str(baseline)
    history = client.get(f"/v1/functions/{name}/aliases/prod/history").json()["history"]
    assert [h["action"] for h in history] == ["create"]


def test_shadow_mode_reports_a_candidate_whose_answers_differ(quick: Server, client: httpx.Client) -> None:
    name = unique("shadow")
    baseline, candidate = two_versions(client, name, versioned("v2", factor=3), idempotent=True)
    shadow = {"percent": 100, "compare_output": True, "duration_s": 2, "only": True}
    with load(quick, name) as seen:
        start(client, name, to=candidate, shadow=shadow, gates={"min_invocations": 20})
        final = finished(client, name, timeout=60)
    assert final["state"] == "failed", final["reason"]
    assert "output_mismatch" in final["reason"] and "the alias never moved" in final["reason"]
    mirrored = final["metrics"]["shadow"]
    assert mirrored["compared"] >= 20 and mirrored["mismatches"] == mirrored["compared"]
    assert set(seen.versions) == {str(baseline)}, "shadow answers must never reach a caller"
    assert alias_target(client, name) == str(baseline)


def test_shadow_mode_passes_a_candidate_with_the_same_answers(quick: Server, client: httpx.Client) -> None:
    name = unique("shadowok")
    # different code, same answers (the marker is part of the answer)
    _, candidate = two_versions(client, name, versioned("v1", sleep_s=0.0001), idempotent=True)
    shadow = {"percent": 100, "compare_output": True, "duration_s": 2, "only": True}
    with load(quick, name):
        start(client, name, to=candidate, shadow=shadow, gates={"min_invocations": 20})
        final = finished(client, name, timeout=60)
    assert final["state"] == "succeeded", final["reason"]
    assert final["metrics"]["shadow"]["mismatches"] == 0


def test_shadow_traffic_needs_an_idempotent_function(client: httpx.Client) -> None:
    name = unique("notidem")
    _, candidate = two_versions(client, name, versioned("v2"))
    response = client.post(
        f"/v1/functions/{name}/aliases/prod/rollout", json={"to": candidate, "shadow": {"percent": 10}}
    )
    assert (response.status_code, error_code(response)) == (400, "InvalidParameterValue")
    assert "idempotent" in response.json()["error"]["message"]
    assert client.get(f"/v1/functions/{name}/aliases/prod/rollout").status_code == 404


def test_one_rollout_per_alias_and_no_hand_moves_unless_forced(client: httpx.Client) -> None:
    name = unique("guard")
    baseline, candidate = two_versions(client, name, versioned("v2"))
    start(client, name, to=candidate, strategy="canary", weight=10, bake_s=600, no_gates=True)
    second = client.post(f"/v1/functions/{name}/aliases/prod/rollout", json={"to": candidate})
    assert (second.status_code, error_code(second)) == (409, "RolloutInProgress")
    by_hand = client.put(f"/v1/functions/{name}/aliases/prod", json={"version": str(candidate)})
    assert (by_hand.status_code, error_code(by_hand)) == (409, "RolloutInProgress")
    rollback = client.post(f"/v1/functions/{name}/aliases/prod/rollback")
    assert (rollback.status_code, error_code(rollback)) == (409, "RolloutInProgress")
    deleted = client.delete(f"/v1/functions/{name}/versions/{candidate}")
    assert (deleted.status_code, error_code(deleted)) == (409, "VersionInUse")

    forced = client.put(
        f"/v1/functions/{name}/aliases/prod", params={"force": "true"}, json={"version": str(candidate)}
    )
    assert forced.status_code == 200, forced.text
    assert alias_target(client, name) == str(candidate)
    view = status(client, name)
    assert view["state"] == "aborted" and "forced" in view["reason"]


def test_pause_resume_promote_and_abort(client: httpx.Client) -> None:
    name = unique("steer")
    baseline, candidate = two_versions(client, name, versioned("v2"))
    start(client, name, to=candidate, strategy="linear", step=25, interval_s=600, no_gates=True)
    wait_for(lambda: status(client, name)["state"] == "baking", what="the first step to bake")
    assert alias_target(client, name) == f"{baseline} (75%), {candidate} (25%)"
    paused = client.post(f"/v1/functions/{name}/aliases/prod/rollout/pause", json={"reason": "lunch"})
    assert (paused.status_code, paused.json()["state"], paused.json()["reason"]) == (200, "paused", "lunch")
    wrong = client.post(f"/v1/functions/{name}/aliases/prod/rollout/promote")
    assert (wrong.status_code, error_code(wrong)) == (409, "InvalidRolloutTransition")
    resumed = client.post(f"/v1/functions/{name}/aliases/prod/rollout/resume")
    assert resumed.json()["state"] == "baking" and resumed.json()["bake_left_s"] > 500
    promoted = client.post(f"/v1/functions/{name}/aliases/prod/rollout/promote")
    assert promoted.status_code == 200, promoted.text
    assert alias_target(client, name) == str(candidate)
    wait_for(lambda: status(client, name)["state"] == "succeeded", what="the promoted rollout to succeed")

    start(client, name, to=baseline, strategy="canary", weight=10, bake_s=600, no_gates=True)
    wait_for(lambda: status(client, name)["state"] == "baking", what="the canary to bake")
    aborted = client.post(f"/v1/functions/{name}/aliases/prod/rollout/abort")
    assert aborted.json()["state"] == "rolling-back"
    assert alias_target(client, name) == str(candidate)
    wait_for(lambda: status(client, name)["state"] == "aborted", what="the abort to finish")
    past = client.get(f"/v1/functions/{name}/aliases/prod/rollouts").json()["rollouts"]
    assert [(r["candidate"], r["state"]) for r in past] == [(baseline, "aborted"), (candidate, "succeeded")]


@pytest.mark.parametrize(
    "case",
    [
        ({"to": 99}, 404, "VersionNotFound"),
        ({"to": 1}, 400, "InvalidAliasTarget"),
        ({"to": 2, "strategy": "zigzag"}, 400, "InvalidStrategy"),
        ({"to": 2, "strategy": "linear", "weight": 5}, 400, "InvalidStrategy"),
        ({"to": 2, "weight": 150}, 400, "InvalidParameterValue"),
        ({"to": 2, "gates": {"max_error_rate": 2}}, 400, "InvalidParameterValue"),
        ({"to": 2, "pre_hook": {}}, 400, "InvalidParameterValue"),
        ({"to": 2, "pre_hook": {"function": "nope-missing"}}, 404, "FunctionNotFound"),
        ({"to": 2, "window_s": 1}, 400, "InvalidParameterValue"),
    ],
    ids=lambda case: case[2],
)
def test_bad_rollout_requests_are_refused_and_store_nothing(
    client: httpx.Client, case: tuple[dict[str, object], int, str]
) -> None:
    body, code, error = case
    name = unique("badroll")
    two_versions(client, name, versioned("v2"))
    response = client.post(f"/v1/functions/{name}/aliases/prod/rollout", json=body)
    assert (response.status_code, error_code(response)) == (code, error), response.text
    assert client.get(f"/v1/functions/{name}/aliases/prod/rollout").status_code == 404
    assert alias_target(client, name) == "1"


def test_a_restart_in_the_middle_of_a_bake_resumes_with_the_bake_time_left(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_env=FAST_ROLLOUTS).start()
    try:
        with server.client() as api:
            name = unique("restart")
            baseline, candidate = two_versions(api, name, versioned("v2"))
            start(api, name, to=candidate, strategy="canary", weight=50, bake_s=12, no_gates=True)
            baking = wait_for(
                lambda: (v := status(api, name))["state"] == "baking" and v, what="the canary to bake"
            )
        server.kill()
        server.start()
        with server.client() as api:
            resumed = status(api, name)
            assert resumed["state"] == "baking" and 0 < resumed["bake_left_s"] <= 12
            assert resumed["history"][: len(baking["history"])] == baking["history"]
            assert alias_target(api, name) == f"{baseline} (50%), {candidate} (50%)"
            final = finished(api, name, timeout=30)
        assert final["state"] == "succeeded"
        bake_started = next(h for h in final["history"] if h["state"] == "baking")["at"]
        promoted = next(h for h in final["history"] if h["routing"] == str(candidate))
        baked = datetime.fromisoformat(promoted["at"]) - datetime.fromisoformat(bake_started)
        assert 12 <= baked.total_seconds() < 30, baked
    finally:
        server.kill()


def test_after_a_restart_a_rollout_that_cannot_judge_is_rolled_back(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_env=FAST_ROLLOUTS).start()
    try:
        with server.client() as api:
            name = unique("nojudge")
            baseline, candidate = two_versions(api, name, versioned("v2"))
            gates = {"max_error_rate_increase": 0.01, "min_invocations": 1000}
            start(api, name, to=candidate, strategy="canary", weight=10, bake_s=1, max_hold_s=2, gates=gates)
            wait_for(lambda: status(api, name)["state"] == "baking", what="the canary to bake")
        server.kill()
        server.start()
        with server.client() as api:
            final = finished(api, name, timeout=30)
            assert final["state"] == "rolled-back" and "cannot judge" in final["reason"]
            assert alias_target(api, name) == str(baseline)
    finally:
        server.kill()


VALIDATOR = """\
def handler(event, context):
    if event["check"] == "custom":
        candidate = event["metrics"]["candidate"]
        if candidate["invocations"] >= 10:
            return {"status": "Failed", "message": f"saw {candidate['invocations']} calls, vetoed"}
        return {"status": "Pending"}
    return {"status": "Succeeded", "message": f"{event['check']} ok for {event['candidate']}"}
"""


def test_a_validator_hook_passes_and_a_custom_gate_of_the_users_rolls_back(
    quick: Server, client: httpx.Client
) -> None:
    name, validator = unique("custom"), unique("validator")
    baseline, candidate = two_versions(client, name, versioned("v2"))
    point(client, validator, "prod", version=release(client, validator, {"app.py": VALIDATOR}))
    gates = {"custom": f"{validator}:prod", "min_invocations": 5}
    with load(quick, name):
        start(
            client,
            name,
            to=candidate,
            strategy="canary",
            weight=50,
            bake_s=60,
            gates=gates,
            pre_hook={"function": f"{validator}:prod"},
        )
        final = finished(client, name, timeout=60)
    assert final["state"] == "rolled-back", final["reason"]
    assert f"custom:{validator}:prod" in final["reason"] and "vetoed" in final["reason"]
    pre = next(h for h in final["history"] if h["state"] == "stepping")
    assert "pre-traffic hook passed" in pre["reason"]
    assert alias_target(client, name) == str(baseline)
