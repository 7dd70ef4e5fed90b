"""/v1/functions/{name}/aliases/{alias}/rollout: start, watch and steer progressive rollouts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from turnout.api.deps import Deployer, Reader, ServicesDep
from turnout.api.schemas import HookBody, RolloutActionBody, RolloutBody, RolloutPlanBody
from turnout.domain.gates import Gates, Metrics, Window
from turnout.domain.plan import Hook, Plan, Shadow
from turnout.domain.rollout import Policy
from turnout.domain.routing import BASIS_POINTS
from turnout.domain.strategy import build
from turnout.errors import InvalidInput
from turnout.gateway.controller import RolloutController
from turnout.services.rollouts import RolloutRequest
from turnout.store.rollouts import RolloutRecord

router = APIRouter(prefix="/v1/functions/{name}/aliases/{alias}", tags=["rollouts"])

# Gates when a request names none: the candidate's error rate may not exceed the baseline's by more than
# one point (with the statistical test), judged once the candidate has 100 invocations in the window.
# A request that sets none of LIMITS keeps the default limit with its own tuning (min_invocations, alpha).
DEFAULT_GATES = Gates(max_error_rate_increase=0.01)
LIMITS = {"max_error_rate", "max_p99_ms", "max_error_rate_increase", "max_p99_ratio", "custom"}


@router.post("/rollout", status_code=201)
def start_rollout(
    name: str, alias: str, body: RolloutBody, request: Request, svc: ServicesDep, principal: Deployer
) -> dict[str, Any]:
    record = svc.rollouts.start(name, alias, rollout_request(body), principal.name, force=body.force)
    return rollout_json(record, request.app.state.controller)


@router.get("/rollout")
def get_rollout(name: str, alias: str, request: Request, svc: ServicesDep, _: Reader) -> dict[str, Any]:
    return rollout_json(svc.rollouts.current(name, alias), request.app.state.controller)


@router.get("/rollouts")
def list_rollouts(
    name: str,
    alias: str,
    request: Request,
    svc: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    controller = request.app.state.controller
    return {"rollouts": [rollout_json(r, controller) for r in svc.rollouts.history(name, alias, limit)]}


@router.post("/rollout/{action}")
def steer_rollout(
    name: str,
    alias: str,
    action: str,
    request: Request,
    response: Response,
    svc: ServicesDep,
    principal: Deployer,
    body: RolloutActionBody | None = None,
) -> dict[str, Any]:
    reason, force = (body or RolloutActionBody()).reason, (body or RolloutActionBody()).force
    rollouts = svc.rollouts
    if action == "pause":
        record = rollouts.pause(name, alias, principal.name, reason)
    elif action == "resume":
        record = rollouts.resume(name, alias, principal.name)
    elif action == "promote":
        record = rollouts.promote(name, alias, principal.name, reason)
    elif action == "abort":
        record = rollouts.abort(name, alias, principal.name, reason, force)
    else:
        raise InvalidInput(f"unknown rollout action {action!r}: pause, resume, promote or abort")
    return rollout_json(record, request.app.state.controller)


def rollout_request(body: RolloutBody) -> RolloutRequest:
    """The service's request from the API body: the strategy built, the gates and hooks checked."""
    return plan_request(body, body.to)


def plan_request(body: RolloutPlanBody, to: int) -> RolloutRequest:
    """A rollout's strategy and plan from the API body, with ``to`` as the candidate."""
    strategy = build(
        body.strategy,
        weight_bp=_bp(body.weight),
        bake_s=body.bake_s,
        step_bp=_bp(body.step),
        interval_s=body.interval_s,
        steps=None if body.steps is None else [(_bp(s.weight) or 0, s.bake_s) for s in body.steps],
    )
    if body.no_gates:
        if body.gates is not None and body.gates.model_dump(exclude_none=True):
            raise InvalidInput("no_gates turns the gates off; do not give gates with it")
        gates = Gates(min_invocations=1)
    elif body.gates is None:
        gates = DEFAULT_GATES
    else:
        given = body.gates.model_dump(exclude_none=True)
        if not set(given) & LIMITS:  # tuning only (sample size, alpha...): keep the default limits
            given = {**DEFAULT_GATES.to_json(), **given}
        gates = Gates(**given)
    shadow = body.shadow
    if shadow is not None and shadow.compare_output and gates.max_mismatch_rate is None:
        gates = Gates(**{**gates.to_json(), "max_mismatch_rate": 0.0})
    policy = Policy(
        gates=gates,
        pre_hook=None if body.pre_hook is None else _hook(body.pre_hook).name,
        post_hook=None if body.post_hook is None else _hook(body.post_hook).name,
        hook_timeout_s=body.hook_timeout_s,
        max_hold_s=body.max_hold_s,
        shadow_s=None if shadow is None else shadow.duration_s,
        shadow_only=bool(shadow and shadow.only),
    )
    plan = Plan(
        policy=policy,
        pre_hook=None if body.pre_hook is None else _hook(body.pre_hook),
        post_hook=None if body.post_hook is None else _hook(body.post_hook),
        shadow=None if shadow is None else Shadow(_bp(shadow.percent) or 0, shadow.compare_output),
        window_s=body.window_s,
        warm=body.warm,
    )
    return RolloutRequest(to, strategy, plan)


def rollout_json(record: RolloutRecord, controller: RolloutController) -> dict[str, Any]:
    r = record.rollout
    now = controller.clock()
    metrics = controller.metrics(record, now)
    routing = r.routing(r.serving_bp)
    bake_left = r.bake_left_s(now) if r.state.value in ("baking", "paused") else 0.0
    return {
        "id": record.id,
        "function": record.function,
        "alias": r.alias,
        "baseline": r.baseline,
        "candidate": r.candidate,
        "state": r.state.value,
        "active": record.active,
        "strategy": r.strategy.to_json(),
        "step": r.step,
        "steps": len(r.strategy.steps),
        "weights": {route.label: route.weight_bp / 100 for route in routing.routes},
        "candidate_percent": r.serving_bp / 100,
        "bake_left_s": round(bake_left, 3),
        "reason": r.history[-1].reason if r.history else "waiting for the controller's first tick",
        "gates": record.plan.policy.gates.to_json(),
        "plan": record.plan.to_json(),
        "metrics": {
            "window_s": record.plan.window_s,
            "baseline": _window_json(metrics.baseline),
            "candidate": _window_json(metrics.candidate),
            "shadow": None
            if record.plan.shadow is None
            else {**_window_json(metrics.shadow), **_comparison(metrics)},
        },
        "history": [
            {
                "at": h.at.isoformat(),
                "action": h.action.value,
                "state": h.state.value,
                "step": h.step,
                "routing": None if h.routing is None else h.routing.describe(),
                "reason": h.reason,
                "figures": h.figures,
            }
            for h in r.history
        ],
        "actor": record.actor,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def _window_json(w: Window) -> dict[str, Any]:
    return {
        "invocations": w.invocations,
        "errors": dict(w.errors),
        "error_rate": round(w.error_rate, 6),
        "p50_ms": w.p50_ms,
        "p90_ms": w.p90_ms,
        "p99_ms": w.p99_ms,
        "cold_starts": w.cold_starts,
    }


def _comparison(metrics: Metrics) -> dict[str, int]:
    return {"compared": metrics.compared, "mismatches": metrics.mismatches}


def _hook(body: HookBody) -> Hook:
    return Hook(tuple(body.events or ()), body.function)


def _bp(percent: float | None) -> int | None:
    if percent is None:
        return None
    if not 0 < percent <= 100:
        raise InvalidInput(f"a share of traffic is above 0% and at most 100%, not {percent:g}%")
    return max(1, min(BASIS_POINTS, round(percent * 100)))
