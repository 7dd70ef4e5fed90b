"""`turnout rollout`: parsing, the request body, rendering a rollout view, --watch's exit code, and the
commands against a scripted API (no server)."""

from __future__ import annotations

import copy
import doctest
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, RenderableType
from typer.testing import CliRunner, Result

from turnout.cli import rollout as rollout_module
from turnout.cli import rollout_options, rollout_view
from turnout.cli.client import ApiClient, CliError, Reply
from turnout.cli.main import app
from turnout.cli.rollout import INTERRUPTED, watch
from turnout.cli.rollout_options import (
    StartOptions,
    parse_duration,
    parse_milliseconds,
    parse_percent,
    parse_rate,
    parse_ratio,
    parse_steps,
    read_events,
    resolve_strategy,
    start_body,
)
from turnout.cli.rollout_view import (
    duration_text,
    exit_code,
    gates_text,
    live_view,
    outcome_text,
    status_renderables,
)

INVALID = "InvalidParameterValue"


def view(**changes: Any) -> dict[str, Any]:
    """A rollout view as the API returns it: canary 10% of prod from 3 to 4, baking."""
    data: dict[str, Any] = {
        "id": 7,
        "function": "hello",
        "alias": "prod",
        "baseline": 3,
        "candidate": 4,
        "state": "baking",
        "active": True,
        "strategy": {
            "kind": "canary",
            "name": "Canary10Percent5Minutes",
            "steps": [{"weight_bp": 1000, "bake_s": 300}, {"weight_bp": 10000, "bake_s": 0}],
        },
        "step": 0,
        "steps": 2,
        "weights": {"3": 90.0, "4": 10.0},
        "candidate_percent": 10.0,
        "bake_left_s": 83.2,
        "reason": "gates pass: error rate 0.00% ≤ 5.00%",
        "gates": {"max_error_rate": 0.05, "max_p99_ms": 250.0, "min_invocations": 100, "alpha": 0.01},
        "plan": {},
        "metrics": {
            "window_s": 60,
            "since": "2025-11-26T09:05:00+00:00",
            "baseline": {
                "invocations": 900,
                "errors": {"Function.Unhandled": 3},
                "error_rate": 0.0033,
                "p50_ms": 12.0,
                "p90_ms": 30.0,
                "p99_ms": 80.5,
            },
            "candidate": {
                "invocations": 100,
                "errors": {},
                "error_rate": 0.0,
                "p50_ms": 11.0,
                "p90_ms": 28.0,
                "p99_ms": 75.25,
            },
            "shadow": None,
        },
        "history": [
            {
                "at": "2025-11-26T09:04:00+00:00",
                "action": "start",
                "state": "pending",
                "step": -1,
                "routing": None,
                "reason": "started",
                "figures": {},
            },
            {
                "at": "2025-11-26T09:04:01+00:00",
                "action": "set-weights",
                "state": "stepping",
                "step": 0,
                "routing": "3 (90%), 4 (10%)",
                "reason": "step 1 of 2",
                "figures": {},
            },
        ],
        "actor": "admin",
        "created_at": "2025-11-26T09:04:00+00:00",
        "updated_at": "2025-11-26T09:05:00+00:00",
    }
    data.update(changes)
    return data


def text_of(*items: RenderableType) -> str:
    out = Console(file=io.StringIO(), width=200, color_system=None)
    for item in items:
        out.print(item)
    return out.file.getvalue()  # type: ignore[attr-defined]


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(CliError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_worked_examples_hold() -> None:
    for module in (rollout_module, rollout_options, rollout_view):
        assert doctest.testmod(module).failed == 0


# --------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
        ("1h2m3s", 3723),
        ("0", 0),
        ("1d", 86400),
    ],
)
def test_durations_are_whole_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text, "--bake") == seconds


@pytest.mark.parametrize("text", ["", "5x", "-5", "1.5m", "m", "5m1h", "five"])
def test_bad_durations_are_invalid_parameter_values(text: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_duration(text, "--bake")
    assert caught.value.code == INVALID
    assert "--bake" in caught.value.message and "1m30s" in caught.value.message


def test_a_duration_can_have_a_minimum() -> None:
    assert error_code(parse_duration, "0", "--window", minimum=1) == INVALID


@pytest.mark.parametrize(("text", "ms"), [("250ms", 250.0), ("1.5s", 1500.0), ("250", 250.0), ("0.5", 0.5)])
def test_p99_limits_are_milliseconds(text: str, ms: float) -> None:
    assert parse_milliseconds(text, "--max-p99") == ms


@pytest.mark.parametrize("text", ["0", "0ms", "fast", "-3", "1m", ""])
def test_bad_p99_limits_are_invalid(text: str) -> None:
    assert error_code(parse_milliseconds, text, "--max-p99") == INVALID


@pytest.mark.parametrize(("text", "rate"), [("0.05", 0.05), ("5%", 0.05), ("0", 0.0), ("0.5%", 0.005)])
def test_rates_are_fractions_or_percentages(text: str, rate: float) -> None:
    assert parse_rate(text, "--max-error-rate") == pytest.approx(rate)


@pytest.mark.parametrize("text", ["5", "1", "100%", "-0.1", "nan", "inf", "lots", "%"])
def test_bad_rates_are_invalid(text: str) -> None:
    assert error_code(parse_rate, text, "--max-error-rate") == INVALID


def test_percentages_are_above_0_with_at_most_2_decimals() -> None:
    assert parse_percent("12.5%", "--weight") == 12.5
    assert parse_percent("100", "--shadow") == 100.0
    for bad in ("0", "101", "12.345", "x", "-1"):
        assert error_code(parse_percent, bad, "--weight") == INVALID
    assert error_code(parse_percent, "100", "--weight", below_100=True) == INVALID


def test_ratios_take_an_optional_x() -> None:
    assert parse_ratio("1.5x", "--max-p99-ratio") == parse_ratio("1.5", "--max-p99-ratio") == 1.5
    assert error_code(parse_ratio, "0", "--max-p99-ratio") == INVALID


def test_steps_are_percent_and_bake_pairs() -> None:
    assert parse_steps("5:1m,25:5m, 50:5m") == [
        {"weight": 5.0, "bake_s": 60},
        {"weight": 25.0, "bake_s": 300},
        {"weight": 50.0, "bake_s": 300},
    ]
    assert parse_steps("10%:30s,100") == [{"weight": 10.0, "bake_s": 30}, {"weight": 100.0, "bake_s": 0}]


@pytest.mark.parametrize(
    "text", ["", "5:1m,,50:5m", "50:1m,25:1m", "5:1m,5:2m", "5:forever", "0:1m", "150:1m", ":1m"]
)
def test_bad_steps_are_invalid(text: str) -> None:
    assert error_code(parse_steps, text) == INVALID


def test_events_files_hold_a_list_or_one_event(tmp_path: Path) -> None:
    listed, single, empty, broken = (
        tmp_path / n for n in ("list.json", "one.json", "empty.json", "bad.json")
    )
    listed.write_text('[{"name": "a"}, {"name": "b"}]')
    single.write_text('{"name": "a"}')
    empty.write_text("[]")
    broken.write_text("{not json")
    assert read_events(str(listed), "--pre-hook-events") == [{"name": "a"}, {"name": "b"}]
    assert read_events(str(single), "--pre-hook-events") == [{"name": "a"}]
    for bad in (empty, broken, tmp_path / "missing.json"):
        assert error_code(read_events, str(bad), "--pre-hook-events") == INVALID


# ---------------------------------------------------------------------------------------- request body


def test_only_the_given_fields_are_sent() -> None:
    assert start_body(StartOptions(to=4)) == {"to": 4}
    assert start_body(StartOptions(to=4, weight="20%", bake="10m")) == {
        "to": 4,
        "weight": 20.0,
        "bake_s": 600,
    }


def test_every_option_goes_to_its_field(tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_text('{"name": "smoke"}')
    body = start_body(
        StartOptions(
            to=4,
            strategy="Linear",
            step="20",
            interval="2m",
            max_error_rate="2%",
            max_p99="1.5s",
            max_error_increase="0.01",
            max_p99_ratio="1.5x",
            min_invocations=50,
            alpha="0.05",
            custom_gate="judge:prod",
            max_mismatch_rate="1%",
            window="90s",
            pre_hook_events=str(events),
            post_hook="checker:2",
            hook_timeout="1m",
            max_hold="15m",
            shadow="25",
            compare_output=True,
            shadow_duration="10m",
            no_warm=True,
        )
    )
    assert body == {
        "to": 4,
        "strategy": "linear",
        "step": 20.0,
        "interval_s": 120,
        "gates": {
            "max_error_rate": 0.02,
            "max_p99_ms": 1500.0,
            "max_error_rate_increase": 0.01,
            "max_p99_ratio": 1.5,
            "min_invocations": 50,
            "alpha": 0.05,
            "custom": "judge:prod",
            "max_mismatch_rate": 0.01,
        },
        "window_s": 90,
        "pre_hook": {"events": [{"name": "smoke"}]},
        "post_hook": {"function": "checker:2"},
        "hook_timeout_s": 60,
        "max_hold_s": 900,
        "shadow": {"percent": 25.0, "compare_output": True, "duration_s": 600},
        "warm": False,
    }
    json.dumps(body)  # it is JSON


def test_steps_imply_the_steps_strategy_and_step_the_linear_one() -> None:
    assert start_body(StartOptions(to=2, steps="5:1m,50:5m"))["strategy"] == "steps"
    assert start_body(StartOptions(to=2, interval="1m"))["strategy"] == "linear"
    assert "strategy" not in start_body(StartOptions(to=2, weight="5"))  # canary, the server's default


def test_presets_are_passed_through_and_fix_their_steps() -> None:
    assert (
        start_body(StartOptions(to=2, strategy="Canary10Percent5Minutes"))["strategy"]
        == "Canary10Percent5Minutes"
    )
    assert resolve_strategy("AllAtOnce", []) == "AllAtOnce"
    assert (
        error_code(start_body, StartOptions(to=2, strategy="Canary10Percent5Minutes", weight="5")) == INVALID
    )
    assert error_code(start_body, StartOptions(to=2, strategy="Fastest")) == INVALID


@pytest.mark.parametrize(
    "options",
    [
        StartOptions(to=2, strategy="linear", weight="5"),
        StartOptions(to=2, strategy="canary", steps="5:1m"),
        StartOptions(to=2, steps="5:1m", weight="5"),
        StartOptions(to=2, strategy="all-at-once", bake="1m"),
        StartOptions(to=2, weight="100"),
        StartOptions(to=0),
    ],
)
def test_options_that_do_not_fit_the_strategy_are_refused(options: StartOptions) -> None:
    assert error_code(start_body, options) == INVALID


def test_blue_green_takes_a_bake() -> None:
    assert start_body(StartOptions(to=2, strategy="blue-green", bake="15m")) == {
        "to": 2,
        "strategy": "blue-green",
        "bake_s": 900,
    }


def test_no_gates_sends_empty_gates_and_refuses_gate_options() -> None:
    assert start_body(StartOptions(to=2, no_gates=True)) == {"to": 2, "gates": {}, "no_gates": True}
    with pytest.raises(CliError) as caught:
        start_body(StartOptions(to=2, no_gates=True, max_error_rate="5%"))
    assert caught.value.code == INVALID and "--max-error-rate" in caught.value.message


def test_shadow_only_sets_shadow_only() -> None:
    body = start_body(StartOptions(to=2, shadow="100", shadow_only=True))
    assert body == {"to": 2, "shadow": {"percent": 100.0, "only": True}}


def test_shadow_options_need_a_shadow_percentage() -> None:
    for options in (
        StartOptions(to=2, shadow_only=True),
        StartOptions(to=2, compare_output=True),
        StartOptions(to=2, shadow_duration="5m"),
    ):
        assert error_code(start_body, options) == INVALID


def test_hooks_take_a_function_or_events_not_both(tmp_path: Path) -> None:
    events = tmp_path / "e.json"
    events.write_text("[1]")
    assert (
        error_code(start_body, StartOptions(to=2, pre_hook="check", pre_hook_events=str(events))) == INVALID
    )
    assert error_code(start_body, StartOptions(to=2, post_hook=":prod")) == INVALID
    assert error_code(start_body, StartOptions(to=2, custom_gate="judge:")) == INVALID
    assert start_body(StartOptions(to=2, pre_hook="check"))["pre_hook"] == {"function": "check"}


def test_bad_gate_values_are_invalid() -> None:
    for options in (
        StartOptions(to=2, alpha="0.5"),
        StartOptions(to=2, alpha="x"),
        StartOptions(to=2, min_invocations=0),
        StartOptions(to=2, max_error_rate="2"),
        StartOptions(to=2, window="0"),
        StartOptions(to=2, hook_timeout="0s"),
    ):
        assert error_code(start_body, options) == INVALID


# ------------------------------------------------------------------------------------------- rendering


def test_status_shows_state_versions_weights_step_metrics_and_reason() -> None:
    text = text_of(*status_renderables(view()))
    for expected in (
        "baking",
        "3 → 4",
        "3: 90%, 4: 10%",
        "1/2",
        "Canary10Percent5Minutes (canary): 10% for 5m → 100%",
        "1m24s",  # the bake left, rounded up
        "gates pass: error rate 0.00% ≤ 5.00%",
        "error rate ≤ 5.00%, p99 ≤ 250.0 ms (min 100 invocations, alpha 0.01)",
        "80.5 ms",
        "75.2 ms",
        "3 (Function.Unhandled 3)",
        "0.33%",
        "step 1 of 2",
    ):
        assert expected in text, expected


def test_status_before_any_step_and_when_over() -> None:
    pending = text_of(*status_renderables(view(state="pending", step=-1, weights={"3": 100.0}, history=[])))
    assert "0/2 (no traffic moved yet)" in pending and "3: 100%" in pending
    over = text_of(*status_renderables(view(state="rolled-back", active=False, reason="p99 too high")))
    assert "rolled-back" in over and "p99 too high" in over and "1m24s" not in over


def test_status_shows_shadow_comparisons() -> None:
    shadow = {
        "invocations": 40,
        "errors": {},
        "error_rate": 0.0,
        "p50_ms": 9.0,
        "p90_ms": None,
        "p99_ms": None,
    }
    data = view(state="shadow", step=-1)
    data["metrics"] = {**data["metrics"], "shadow": {**shadow, "compared": 40, "mismatches": 2}}
    text = text_of(*status_renderables(data))
    assert "shadow" in text and "2 of 40" in text and "output mismatches" in text


def test_the_live_view_has_weights_progress_and_time_to_the_next_step() -> None:
    text = text_of(live_view(view()))
    assert "3: 90%, 4: 10%" in text and "step 1/2" in text and "next step in" in text and "1m24s" in text
    assert "p99" in text and "error rate" in text


def test_gates_text_says_off_without_checks() -> None:
    assert gates_text({}) == "off"
    assert gates_text({"max_error_rate": None, "min_invocations": 100, "alpha": 0.01}) == "off"
    assert gates_text(None) == "off"


def test_durations_render_compactly() -> None:
    assert [duration_text(s) for s in (0, 0.2, 59, 90, 3600, 3723)] == [
        "0s",
        "1s",
        "59s",
        "1m30s",
        "1h",
        "1h2m3s",
    ]


def test_outcome_lines() -> None:
    assert outcome_text(view(state="paused"), "paused") == "rollout of hello:prod (3 → 4): paused"
    assert outcome_text(view(state="rolling-back"), "aborted") == (
        "rollout of hello:prod (3 → 4): aborted (now rolling-back)"
    )


@pytest.mark.parametrize(
    ("state", "code"),
    [("succeeded", 0), ("rolled-back", 1), ("failed", 1), ("aborted", 1), ("baking", 1)],
)
def test_exit_code_is_0_only_for_success(state: str, code: int) -> None:
    assert exit_code(view(state=state)) == code


# ----------------------------------------------------------------------------------- against a fake API


Call = tuple[str, str, dict[str, Any], Any]


class Script:
    """What the fake API answers: ``script[(method, path)] = [body, ...]`` answers them in turn (the last one
    repeats; a :class:`CliError` is raised instead), and every call made, in order."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Any]] = {}
        self.calls: list[Call] = []

    def __setitem__(self, key: tuple[str, str], bodies: list[Any]) -> None:
        self.answers[key] = list(bodies)

    def answer(self, method: str, path: str) -> Any:
        bodies = self.answers.get((method, path))
        if not bodies:
            raise CliError("NotScripted", f"{method} {path}", 404)
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        if isinstance(body, CliError):
            raise body
        return copy.deepcopy(body)


class FakeApi(ApiClient):
    """An ApiClient whose every request is answered by a :class:`Script`."""

    def __init__(self, script: Script) -> None:
        super().__init__("http://fake")
        self.script = script

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        self.script.calls.append((method, path, query, json))
        return Reply(200, self.script.answer(method, path))


ROLLOUT = "/v1/functions/hello/aliases/prod/rollout"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Script:
    """The script every ApiClient of the CLI answers from; --watch polls without sleeping."""
    script = Script()

    def from_environ(cls: type[ApiClient], environ: Mapping[str, str] | None = None) -> FakeApi:
        return FakeApi(script)

    monkeypatch.setattr(ApiClient, "from_environ", classmethod(from_environ))
    monkeypatch.setattr(rollout_module, "POLL_SECONDS", 0.0)
    return script


def run(*args: object) -> Result:
    env = {"COLUMNS": "200", "NO_COLOR": "1", "TURNOUT_URL": "http://fake"}
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_start_posts_only_the_given_options_and_says_what_started(fake: Script) -> None:
    fake[("POST", ROLLOUT)] = [view(state="pending", step=-1)]
    result = run("rollout", "start", "hello", "prod", "--to", "4", "--weight", "5", "--max-error-rate", "1%")
    assert result.exit_code == 0, result.output
    assert fake.calls == [("POST", ROLLOUT, {}, {"to": 4, "weight": 5.0, "gates": {"max_error_rate": 0.01}})]
    assert "started rollout 7 of hello:prod: 3 → 4, Canary10Percent5Minutes (canary): 10% for 5m → 100%" in (
        result.stdout
    )


def test_start_refuses_bad_values_before_any_request(fake: Script) -> None:
    result = run("rollout", "start", "hello", "prod", "--to", "4", "--bake", "soon")
    assert result.exit_code == 1
    assert "error: InvalidParameterValue: --bake 'soon'" in result.output
    assert fake.calls == []


def test_start_json_prints_the_view(fake: Script) -> None:
    fake[("POST", ROLLOUT)] = [view()]
    result = run("rollout", "start", "hello", "prod", "--to", "4", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == 7


def test_start_watch_follows_to_success_and_exits_0(fake: Script) -> None:
    done = view(state="succeeded", active=False, step=1, weights={"4": 100.0}, candidate_percent=100.0)
    done["history"] = [*done["history"], {**done["history"][-1], "action": "finish", "state": "succeeded"}]
    fake[("POST", ROLLOUT)] = [view(state="pending", step=-1, history=done["history"][:1])]
    fake[("GET", ROLLOUT)] = [view(), view(), done]
    result = run("rollout", "start", "hello", "prod", "--to", "4", "--watch")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "started rollout 7" in out
    assert out.count("set-weights → stepping") == 1  # each event once, however often it is polled
    assert "finish → succeeded" in out
    assert "rollout of hello:prod (3 → 4): succeeded" in out and "4: 100%" in out


@pytest.mark.parametrize("state", ["rolled-back", "failed", "aborted"])
def test_status_watch_exits_1_when_the_rollout_does_not_succeed(fake: Script, state: str) -> None:
    fake[("GET", ROLLOUT)] = [view(), view(state=state, active=False, reason="error rate 9% > 5%")]
    result = run("rollout", "status", "hello", "prod", "--watch")
    assert result.exit_code == 1, result.output
    assert f"rollout of hello:prod (3 → 4): {state}" in result.stdout
    assert "error rate 9% > 5%" in result.stdout


def test_watch_json_prints_only_the_final_view_on_stdout(fake: Script) -> None:
    fake[("GET", ROLLOUT)] = [view(), view(state="succeeded", active=False)]
    result = run("rollout", "status", "hello", "prod", "--watch", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "succeeded"


def test_watch_keeps_to_its_rollout_when_a_newer_one_starts(fake: Script) -> None:
    fake[("POST", ROLLOUT)] = [view()]
    fake[("GET", ROLLOUT)] = [view(id=8)]
    fake[("GET", "/v1/functions/hello/aliases/prod/rollouts")] = [
        {"rollouts": [view(id=8), view(state="aborted", active=False)]}
    ]
    result = run("rollout", "start", "hello", "prod", "--to", "4", "--watch")
    assert result.exit_code == 1, result.output
    assert "rollout of hello:prod (3 → 4): aborted" in result.stdout


def test_watch_waits_for_a_server_that_stops_answering(fake: Script, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = CliError("ServerUnreachable", "cannot reach Turnout")
    fake[("GET", ROLLOUT)] = [view(), gone, gone, view(state="succeeded", active=False)]
    api = ApiClient.from_environ()
    final = watch(api, "hello", "prod", None, Console(file=io.StringIO()), live=False)
    assert final["state"] == "succeeded"

    monkeypatch.setattr(rollout_module, "RECONNECT_SECONDS", -1.0)
    fake[("GET", ROLLOUT)] = [gone]
    with pytest.raises(CliError):
        watch(ApiClient.from_environ(), "hello", "prod", None, Console(file=io.StringIO()), live=False)


def test_the_live_screen_runs_on_a_terminal(fake: Script) -> None:
    fake[("GET", ROLLOUT)] = [view(), view(state="succeeded", active=False)]
    screen = Console(file=io.StringIO(), force_terminal=True, width=120)
    final = watch(ApiClient.from_environ(), "hello", "prod", None, screen, live=True)
    assert final["state"] == "succeeded"
    assert "3: 90%, 4: 10%" in screen.file.getvalue()  # type: ignore[attr-defined]


def test_interrupting_watch_leaves_the_rollout_running(fake: Script, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(rollout_module, "watch", interrupted)
    result = run("rollout", "status", "hello", "prod", "--watch")
    assert result.exit_code == INTERRUPTED
    assert "the rollout goes on" in result.output


def test_status_prints_the_summary(fake: Script) -> None:
    fake[("GET", ROLLOUT)] = [view()]
    result = run("rollout", "status", "hello", "prod")
    assert result.exit_code == 0, result.output
    assert "3: 90%, 4: 10%" in result.stdout and "baking" in result.stdout


def test_status_without_rollouts_is_an_error(fake: Script) -> None:
    fake[("GET", ROLLOUT)] = [CliError("RolloutNotFound", "alias prod of hello has no rollout", 404)]
    result = run("rollout", "status", "hello", "prod")
    assert result.exit_code == 1
    assert "error: RolloutNotFound" in result.output


@pytest.mark.parametrize(
    ("action", "state", "line"),
    [
        ("pause", "paused", "rollout of hello:prod (3 → 4): paused"),
        ("resume", "baking", "rollout of hello:prod (3 → 4): resumed (now baking)"),
        ("promote", "succeeded", "rollout of hello:prod (3 → 4): promoted (now succeeded)"),
        ("abort", "rolling-back", "rollout of hello:prod (3 → 4): aborted (now rolling-back)"),
    ],
)
def test_actions_post_and_say_what_happened(fake: Script, action: str, state: str, line: str) -> None:
    fake[("POST", f"{ROLLOUT}/{action}")] = [view(state=state)]
    result = run("rollout", action, "hello", "prod", "--reason", "why not")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == line
    assert fake.calls == [("POST", f"{ROLLOUT}/{action}", {}, {"reason": "why not"})]


def test_an_action_without_reason_sends_no_body(fake: Script) -> None:
    fake[("POST", f"{ROLLOUT}/pause")] = [view(state="paused")]
    assert run("rollout", "pause", "hello", "prod").exit_code == 0
    assert fake.calls == [("POST", f"{ROLLOUT}/pause", {}, None)]


def test_history_lists_past_rollouts(fake: Script) -> None:
    past = [
        view(id=8, state="rolled-back", active=False, reason="p99 410 ms > 250 ms"),
        view(
            state="succeeded", active=False, baseline=2, candidate=3, strategy={"kind": "linear", "steps": []}
        ),
    ]
    fake[("GET", "/v1/functions/hello/aliases/prod/rollouts")] = [{"rollouts": past}]
    result = run("rollout", "history", "hello", "prod", "--limit", "5")
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    eight = next(r for r in rows if "rolled-back" in r)
    assert "8" in eight and "3 → 4" in eight and "Canary10Percent5Minutes (canary)" in eight
    assert "p99 410 ms > 250 ms" in eight
    seven = next(r for r in rows if "succeeded" in r)
    assert "2 → 3" in seven and "linear" in seven
    assert fake.calls[0][2] == {"limit": 5}


# ------------------------------------------------------------------------------- --force on alias moves


ALIAS = "/v1/functions/hello/aliases/prod"


def test_alias_set_force_sends_force(fake: Script) -> None:
    fake[("GET", ALIAS)] = [{"target": "3"}]
    fake[("PUT", ALIAS)] = [{"target": "4", "revision_id": "r2"}]
    assert run("alias", "set", "hello", "prod", "4", "--force").exit_code == 0
    assert run("alias", "set", "hello", "prod", "4").exit_code == 0
    puts = [c for c in fake.calls if c[0] == "PUT"]
    assert [c[2] for c in puts] == [{"force": "true"}, {}]


def test_alias_rm_rollback_and_swap_force(fake: Script) -> None:
    fake[("DELETE", ALIAS)] = [None]
    fake[("GET", ALIAS)] = [{"target": "4"}]
    fake[("POST", f"{ALIAS}/rollback")] = [{"target": "3"}]
    fake[("POST", "/v1/functions/hello/swap")] = [
        {"aliases": [{"name": "a", "target": "1"}, {"name": "b", "target": "2"}]}
    ]
    for args in (
        ("alias", "rm", "hello", "prod"),
        ("rollback", "hello", "prod"),
        ("swap", "hello", "a", "b"),
    ):
        assert run(*args, "--force").exit_code == 0
        assert run(*args).exit_code == 0
    sent = [(c[0], c[1], c[2]) for c in fake.calls if c[0] != "GET"]
    assert sent == [
        ("DELETE", ALIAS, {"force": "true"}),
        ("DELETE", ALIAS, {}),
        ("POST", f"{ALIAS}/rollback", {"force": "true"}),
        ("POST", f"{ALIAS}/rollback", {}),
        ("POST", "/v1/functions/hello/swap", {"force": "true"}),
        ("POST", "/v1/functions/hello/swap", {}),
    ]


def test_a_refused_move_shows_the_api_error(fake: Script) -> None:
    fake[("POST", f"{ALIAS}/rollback")] = [
        CliError("RolloutInProgress", "a rollout of prod is running: abort it or pass force", 409)
    ]
    fake[("GET", ALIAS)] = [{"target": "4"}]
    result = run("rollback", "hello", "prod")
    assert result.exit_code == 1
    assert "error: RolloutInProgress" in result.output
