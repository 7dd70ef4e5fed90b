"""The console's release pages: the releases newest first, one release (its members, their rollouts and its
history), and its actions - roll back, and pause/resume/abort of a release rollout - each behind a
confirmation like the alias actions, through the same service calls as ``/v1/releases``.

A page is one read (``ReleaseService.list`` or ``get``: one transaction); what it shows of a release is
the API's view (:func:`turnout.api.releases.release_json`), so the page and ``turnout release describe``
never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from turnout.api.releases import release_json
from turnout.console.actions import Plan, confirm
from turnout.console.web import PREFIX, Visitor, back_to, check_post, form, page, services
from turnout.errors import InvalidInput, NothingToRollBack, PreconditionFailed
from turnout.services import Services

LIST_SIZE = 100
BACK = frozenset({"rolled-back", "failed", "aborted"})  # its aliases are already where they were
RUNNING = frozenset({"pending", "running"})  # a release rollout that can be paused, resumed, aborted
STEER = {
    "pause": "hold where it is (the gates keep guarding)",
    "resume": "carry on from the current step",
    "abort": "back to its baseline, every member in one transaction",
}
ACTIONS = ("rollback", *STEER)
KEPT_IN = {  # where each action keeps its reason ("": it takes none)
    "rollback": "the release's history and every alias's",
    "pause": "every member rollout's history",
    "resume": "",
    "abort": "every member rollout's history",
}


async def releases_page(request: Request, visitor: Visitor) -> HTMLResponse:
    found = await run_in_threadpool(services(request).releases.list, LIST_SIZE)
    rows = [_shown(release_json(v)) for v in found]
    return page(request, "releases.html", visitor=visitor, releases=rows, size=LIST_SIZE)


async def release_page(request: Request, visitor: Visitor) -> HTMLResponse:
    name = request.path_params["name"]
    found = await run_in_threadpool(services(request).releases.get, name)
    return page(request, "release.html", visitor=visitor, release=_shown(release_json(found)))


async def confirm_action(request: Request, visitor: Visitor) -> HTMLResponse:
    """What a release action will do, member by member: its alias now (read now) and after."""
    name, action = request.path_params["name"], _action(request)
    visitor.principal.require("deploy")
    shown, now = await run_in_threadpool(_plan_data, services(request), name)
    if action == "rollback" and shown["state"] in BACK:  # the service's own refusal, before any plan
        raise NothingToRollBack(
            f"release {name!r} is {shown['state']}: its aliases are already where they were", release=name
        )
    lines = []
    for m, current in zip(shown["members"], now, strict=True):
        member = f"{m['function']}:{m['alias']}"
        if action == "rollback":
            lines.append((member, current, m["before"]))
        else:
            lines.append((member, f"{current}, {_rollout_text(m['rollout'])}", STEER[action]))
    verb = "Roll back" if action == "rollback" else action.capitalize()
    plan = Plan(
        f"{verb} release {name}" + ("" if action == "rollback" else "'s rollout"),
        lines,
        {"updated": shown["updated_at"]} if action == "rollback" else {},
        f"{PREFIX}/releases/{name}/{action}",
        section="releases",
        kept_in=KEPT_IN[action],
    )
    return confirm(request, visitor, name, plan)


async def act(request: Request, visitor: Visitor) -> Response:
    name, action = request.path_params["name"], _action(request)
    fields = await form(request)
    check_post(request, visitor, fields, "deploy")
    await run_in_threadpool(_act, services(request), name, action, visitor, fields)
    return back_to(f"{PREFIX}/releases/{name}")


def _act(svc: Services, name: str, action: str, visitor: Visitor, fields: dict[str, str]) -> None:
    """The action; a rollback unless the release changed since its confirmation was shown."""
    if fields.get("updated") and release_json(svc.releases.get(name))["updated_at"] != fields["updated"]:
        raise PreconditionFailed(
            f"release {name!r} changed since this page was loaded: look again before you {action} it",
            release=name,
        )
    releases, actor, reason = svc.releases, visitor.principal.name, fields.get("reason", "").strip()[:500]
    calls: dict[str, Callable[[], object]] = {
        "rollback": lambda: releases.rollback(name, actor, reason or "from the console"),
        "pause": lambda: releases.pause(name, actor, reason),
        "resume": lambda: releases.resume(name, actor),
        "abort": lambda: releases.abort(name, actor, reason),
    }
    calls[action]()


def _plan_data(svc: Services, name: str) -> tuple[dict[str, Any], list[str]]:
    """The release as the API shows it, and each member's alias target now."""
    shown = release_json(svc.releases.get(name))
    now = [svc.aliases.get(m["function"], m["alias"]).routing.describe() for m in shown["members"]]
    return shown, now


def _action(request: Request) -> str:
    action = str(request.path_params["action"])
    if action not in ACTIONS:
        raise InvalidInput(f"unknown release action {action!r}: {', '.join(ACTIONS)}")
    return action


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    """The API's view plus what the pages print: how it moves, and which actions make sense now."""
    data["how"] = "at once" if data["rollout"] is None else strategy_text(data["rollout"].get("strategy", {}))
    data["can_roll_back"] = data["state"] == "succeeded"  # running ones are aborted; others are back
    data["can_steer"] = data["state"] in RUNNING
    for m in data["members"]:
        m["rollout_text"] = _rollout_text(m["rollout"])
    return data


def strategy_text(strategy: Mapping[str, Any]) -> str:
    """A release rollout's strategy as people read it.

    >>> strategy_text({"kind": "canary", "name": "", "steps": [
    ...     {"weight_bp": 1000, "bake_s": 300}, {"weight_bp": 10000, "bake_s": 0}]})
    'rollout: canary, 10% for 300s → 100%'
    """
    kind, name = strategy.get("kind", "?"), strategy.get("name") or ""
    label = f"{name} ({kind})" if name and name != kind else str(kind)
    steps = " → ".join(
        f"{s['weight_bp'] / 100:g}%" + (f" for {s['bake_s']}s" if s.get("bake_s") else "")
        for s in strategy.get("steps", [])
    )
    return f"rollout: {label}" + (f", {steps}" if steps else "")


def _rollout_text(rollout: Mapping[str, Any] | None) -> str:
    """``running, step 2/3, 50%``; ``—`` for a member moved at once."""
    if rollout is None:
        return "—"
    step = int(rollout["step"])
    at = "not started" if step < 0 else f"step {step + 1}/{rollout['steps']}"
    return f"{rollout['state']}, {at}, {rollout['candidate_percent']:g}%"
