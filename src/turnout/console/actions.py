"""The console's actions on aliases: point or split, roll back, swap. Each is two steps: a confirmation
page (GET) that says exactly what will change, then the post it holds (CSRF token, ``deploy`` scope).

The confirmation carries the alias's revision id; the post is refused (``PreconditionFailed``) when the
alias moved in between, so what someone confirmed is what happens. Every change goes through the same
service call as the API, so it gets the same checks, history line and error codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from turnout.console.web import PREFIX, Visitor, back_to, check_post, form, page, services
from turnout.domain.alias import rollback_target
from turnout.domain.routing import Routing, routing_from_labels
from turnout.errors import InvalidInput, PreconditionFailed
from turnout.services import Services
from turnout.services.aliases import AliasChanges


@dataclass(frozen=True)
class Plan:
    """What a confirmed action will do: a sentence per alias, before and after."""

    title: str
    lines: list[tuple[str, str, str]]  # (alias, before, after)
    fields: dict[str, str]  # hidden fields the post sends back
    action: str  # the path it posts to
    section: str = "functions"  # where the page of ``name`` is: functions or releases
    kept_in: str = "the alias's history"  # where the reason is kept; "": the action takes no reason


def parse_targets(text: str) -> Routing:
    """Read a target as people type it: ``3``, ``$LATEST`` or ``1=90 2=10`` (percentages).

    >>> parse_targets("1=90 2=10").describe()
    '1 (90%), 2 (10%)'
    """
    parts = text.replace(",", " ").split()
    if not parts:
        raise InvalidInput("give a version (3) or a split (1=90 2=10)")
    if len(parts) == 1 and "=" not in parts[0]:
        return routing_from_labels({parts[0]: 100})
    weights: dict[str, str] = {}
    for part in parts:
        label, sep, weight = part.partition("=")
        if not sep or not label or not weight:
            raise InvalidInput(f"{part!r} is not VERSION=PERCENT (like 2=10)")
        weights[label] = weight
    return routing_from_labels(weights)


async def confirm_point(request: Request, visitor: Visitor) -> HTMLResponse:
    name, alias = request.path_params["name"], request.path_params["alias"]
    visitor.principal.require("deploy")
    target = parse_targets(request.query_params.get("target", ""))
    found = await run_in_threadpool(services(request).aliases.get, name, alias)
    plan = Plan(
        f"Move alias {alias} of {name}",
        [(alias, found.routing.describe(), target.describe())],
        {"target": request.query_params.get("target", ""), "revision": found.revision_id},
        f"{PREFIX}/functions/{name}/aliases/{alias}/point",
    )
    return confirm(request, visitor, name, plan)


async def point(request: Request, visitor: Visitor) -> Response:
    name, alias = request.path_params["name"], request.path_params["alias"]
    fields = await form(request)
    check_post(request, visitor, fields, "deploy")
    target = parse_targets(fields.get("target", ""))
    changes = AliasChanges(routing=target)
    actor, reason = visitor.principal.name, _reason(fields)
    await run_in_threadpool(
        services(request).aliases.put, name, alias, changes, actor, reason, fields.get("revision") or None
    )
    return back_to(f"{PREFIX}/functions/{name}#alias-{alias}")


async def confirm_rollback(request: Request, visitor: Visitor) -> HTMLResponse:
    name, alias = request.path_params["name"], request.path_params["alias"]
    visitor.principal.require("deploy")
    before, after, revision = await run_in_threadpool(_rollback_plan, services(request), name, alias)
    plan = Plan(
        f"Roll back alias {alias} of {name}",
        [(alias, before.describe(), after.describe())],
        {"revision": revision},
        f"{PREFIX}/functions/{name}/aliases/{alias}/rollback",
    )
    return confirm(request, visitor, name, plan)


async def rollback(request: Request, visitor: Visitor) -> Response:
    name, alias = request.path_params["name"], request.path_params["alias"]
    fields = await form(request)
    check_post(request, visitor, fields, "deploy")
    await run_in_threadpool(_rollback, services(request), name, alias, visitor, fields)
    return back_to(f"{PREFIX}/functions/{name}#alias-{alias}")


async def confirm_swap(request: Request, visitor: Visitor) -> HTMLResponse:
    name = request.path_params["name"]
    visitor.principal.require("deploy")
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    svc = services(request)
    first, second = await run_in_threadpool(lambda: (svc.aliases.get(name, a), svc.aliases.get(name, b)))
    if a == b:
        raise InvalidInput(f"cannot swap alias {a!r} with itself")
    plan = Plan(
        f"Swap aliases {a} and {b} of {name}",
        [
            (a, first.routing.describe(), second.routing.describe()),
            (b, second.routing.describe(), first.routing.describe()),
        ],
        {"a": a, "b": b},
        f"{PREFIX}/functions/{name}/swap",
    )
    return confirm(request, visitor, name, plan)


async def swap(request: Request, visitor: Visitor) -> Response:
    name = request.path_params["name"]
    fields = await form(request)
    check_post(request, visitor, fields, "deploy")
    a, b = fields.get("a", ""), fields.get("b", "")
    await run_in_threadpool(
        services(request).aliases.swap, name, a, b, visitor.principal.name, _reason(fields)
    )
    return back_to(f"{PREFIX}/functions/{name}#aliases")


def _rollback_plan(svc: Services, name: str, alias: str) -> tuple[Routing, Routing, str]:
    found = svc.aliases.get(name, alias)
    target = rollback_target(found.routing, svc.aliases.history(name, alias, 500))
    return found.routing, target, found.revision_id


def _rollback(svc: Services, name: str, alias: str, visitor: Visitor, fields: dict[str, str]) -> None:
    """Roll back unless the alias moved since the confirmation was shown."""
    if fields.get("revision") and svc.aliases.get(name, alias).revision_id != fields["revision"]:
        raise PreconditionFailed(
            f"alias {alias!r} changed since this page was loaded: look again before rolling back",
            alias=alias,
        )
    svc.aliases.rollback(name, alias, visitor.principal.name, None, _reason(fields))


def confirm(request: Request, visitor: Visitor, name: str, plan: Plan) -> HTMLResponse:
    context: dict[str, Any] = {"visitor": visitor, "name": name, "plan": plan}
    return page(request, "confirm.html", **context)


def _reason(fields: dict[str, str]) -> str:
    return fields.get("reason", "").strip()[:500] or "from the console"
