"""The console's rollout pages: the live view of an alias's rollout (steps, gates against their limits,
charts per version fed by polling), starting one (strategy presets and gates) and steering it
(pause/resume/promote/abort), each behind a confirmation like the alias actions.

The figures are the API's (:func:`turnout.api.rollouts.rollout_json`) plus per-second series of both
versions from this node's windows, so the page and ``turnout rollout status`` never disagree.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from turnout.api.rollouts import rollout_json, rollout_request
from turnout.api.schemas import RolloutBody
from turnout.console.actions import Plan, confirm
from turnout.console.web import PREFIX, Visitor, back_to, check_post, form, page, services
from turnout.domain.strategy import PRESETS
from turnout.errors import InvalidInput, RolloutNotFound
from turnout.gateway.window import LIVE, Windows

STRATEGIES = ("canary", "linear", "blue-green", "all-at-once", *PRESETS)
GATE_FIELDS = ("max_error_rate", "max_error_rate_increase", "max_p99_ms", "max_p99_ratio", "min_invocations")
CHART_S = 600
STEER = {
    "pause": "hold the candidate's share where it is",
    "resume": "carry on from the current step",
    "promote": "send all traffic to the candidate now",
    "abort": "send all traffic back to the baseline",
}


async def rollout_page(request: Request, visitor: Visitor) -> HTMLResponse:
    name, alias = request.path_params["name"], request.path_params["alias"]
    data = await _status(request, name, alias)
    versions = await run_in_threadpool(services(request).versions.list, name)
    return page(
        request,
        "rollout.html",
        visitor=visitor,
        name=name,
        alias=alias,
        rollout=data,
        strategies=STRATEGIES,
        gate_fields=GATE_FIELDS,
        versions=[v.number for v in reversed(versions)],
    )


async def rollout_status(request: Request, visitor: Visitor) -> Response:
    """What the live view polls: the rollout as the API shows it, its gates, and chart series."""
    name, alias = request.path_params["name"], request.path_params["alias"]
    data = await _status(request, name, alias)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


async def confirm_start(request: Request, visitor: Visitor) -> HTMLResponse:
    name, alias = request.path_params["name"], request.path_params["alias"]
    visitor.principal.require("deploy")
    fields = {k: v for k, v in request.query_params.items() if v.strip()}
    body = _body(fields)
    rollout_request(body)  # the same checks as the API before anything is shown as a plan
    current = await run_in_threadpool(services(request).aliases.get, name, alias)
    gates = ", ".join(f"{k} {fields[k]}" for k in GATE_FIELDS if k in fields) or "the default gates"
    plan = Plan(
        f"Start a {body.strategy} rollout of {name}:{alias} to version {body.to}",
        [(alias, current.routing.describe(), f"{body.to} step by step, judged by {gates}")],
        fields,
        f"{PREFIX}/functions/{name}/aliases/{alias}/rollout",
    )
    return confirm(request, visitor, name, plan)


async def start(request: Request, visitor: Visitor) -> Response:
    name, alias = request.path_params["name"], request.path_params["alias"]
    fields = await form(request)
    check_post(request, visitor, fields, "deploy")
    wanted = {k: v for k, v in fields.items() if k not in ("csrf", "reason") and v.strip()}
    started = rollout_request(_body(wanted))
    await run_in_threadpool(services(request).rollouts.start, name, alias, started, visitor.principal.name)
    return back_to(f"{PREFIX}/functions/{name}/aliases/{alias}/rollout")


async def confirm_steer(request: Request, visitor: Visitor) -> HTMLResponse:
    name, alias, action = (request.path_params[k] for k in ("name", "alias", "action"))
    visitor.principal.require("deploy")
    if action not in STEER:
        raise InvalidInput(f"unknown rollout action {action!r}: pause, resume, promote or abort")
    data = await _status(request, name, alias)
    if data is None:
        raise RolloutNotFound(f"alias {alias!r} of {name!r} has never had a rollout", alias=alias)
    now = ", ".join(f"{v} ({w:g}%)" for v, w in data["weights"].items())
    plan = Plan(
        f"{action.capitalize()} the rollout of {name}:{alias}",
        [(alias, f"{now}, {data['state']}", STEER[action])],
        {},
        f"{PREFIX}/functions/{name}/aliases/{alias}/rollout/{action}",
    )
    return confirm(request, visitor, name, plan)


async def steer(request: Request, visitor: Visitor) -> Response:
    name, alias, action = (request.path_params[k] for k in ("name", "alias", "action"))
    fields = await form(request)
    check_post(request, visitor, fields, "deploy")
    rollouts, actor, reason = services(request).rollouts, visitor.principal.name, fields.get("reason", "")
    calls = {
        "pause": lambda: rollouts.pause(name, alias, actor, reason),
        "resume": lambda: rollouts.resume(name, alias, actor),
        "promote": lambda: rollouts.promote(name, alias, actor, reason),
        "abort": lambda: rollouts.abort(name, alias, actor, reason),
    }
    if action not in calls:
        raise InvalidInput(f"unknown rollout action {action!r}: pause, resume, promote or abort")
    await run_in_threadpool(calls[action])
    return back_to(f"{PREFIX}/functions/{name}/aliases/{alias}/rollout")


async def _status(request: Request, name: str, alias: str) -> dict[str, Any] | None:
    controller = request.app.state.controller
    try:
        record = await run_in_threadpool(services(request).rollouts.current, name, alias)
    except RolloutNotFound:
        await run_in_threadpool(services(request).aliases.get, name, alias)  # the alias itself must exist
        return None
    data = await run_in_threadpool(rollout_json, record, controller)
    data["gate_rows"] = gate_rows(data["gates"], data["metrics"])
    versions = (str(data["baseline"]), str(data["candidate"]))
    since = max(record.created_at.timestamp(), time.time() - CHART_S)
    data["series"] = series(request.app.state.windows, name, versions, since)
    data["verdict"] = verdict(data)
    return data


def verdict(data: dict[str, Any]) -> dict[str, Any] | None:
    """Why a rollout rolled back by itself, with the figures that failed; None unless it did (an abort is
    a person's decision and ends ``aborted``).

    >>> verdict({"state": "rolled-back", "history": [
    ...     {"action": "roll-back", "reason": "error rate", "figures": {"candidate.error_rate": 0.3}},
    ...     {"action": "finish", "reason": "done", "figures": {}}]})
    {'reason': 'error rate', 'figures': {'candidate.error_rate': 0.3}}
    """
    if data["state"] != "rolled-back":
        return None
    for entry in reversed(data["history"]):
        if entry["action"] == "roll-back":
            return {"reason": entry["reason"], "figures": entry["figures"] or {}}
    return None


def gate_rows(gates: dict[str, Any], metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Each limit that is set, with the figure it is judged on and whether that figure is within it.

    >>> gate_rows({"max_error_rate": 0.05}, {"candidate": {"error_rate": 0.2}, "baseline": {}})
    [{'gate': 'max_error_rate', 'figure': 0.2, 'limit': 0.05, 'ok': False}]
    """
    cand, base = metrics["candidate"], metrics["baseline"]
    figures = {
        "max_error_rate": cand.get("error_rate"),
        "max_p99_ms": cand.get("p99_ms"),
        "max_error_rate_increase": _minus(cand.get("error_rate"), base.get("error_rate")),
        "max_p99_ratio": _ratio(cand.get("p99_ms"), base.get("p99_ms")),
    }
    rows = []
    for gate, figure in figures.items():
        limit = gates.get(gate)
        if limit is None:
            continue
        rows.append({"gate": gate, "figure": figure, "limit": limit, "ok": figure is None or figure <= limit})
    return rows


def series(windows: Windows, function: str, versions: tuple[str, ...], since: float) -> dict[str, Any]:
    """Per-second invocations, error rate and p99 of each version since ``since``, for uPlot:
    ``{"t": [...], "versions": {"3": {"invocations": [...], "error_rate": [...], "p99_ms": [...]}}}``."""
    start, end = int(since), int(time.time())
    seconds = list(range(start, end + 1))
    shown: dict[str, dict[str, list[float | None]]] = {}
    for version in versions:
        by_second = {b.second: b for b in windows.buckets(function, version, LIVE, start)}
        rows: dict[str, list[float | None]] = {"invocations": [], "error_rate": [], "p99_ms": []}
        for second in seconds:
            b = by_second.get(second)
            errors = sum(b.errors.values()) if b else 0
            rows["invocations"].append(b.invocations if b else 0)
            rows["error_rate"].append(errors / b.invocations if b and b.invocations else None)
            rows["p99_ms"].append(_p99(b.durations) if b else None)
        shown[version] = rows
    return {"t": seconds, "versions": shown}


def _body(fields: dict[str, str]) -> RolloutBody:
    """The API's rollout body from form fields: the strategy, its knobs and the gates."""
    gates = {k: fields[k] for k in GATE_FIELDS if k in fields}
    rest = {k: v for k, v in fields.items() if k not in GATE_FIELDS and k != "revision"}
    try:
        return RolloutBody.model_validate({**rest, **({"gates": gates} if gates else {})})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from exc


def _p99(durations: list[float]) -> float | None:
    if not durations:
        return None
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b
