"""The console's pages that only read: sign-in and sign-out, the functions list, a function's page and
the diff between two of its versions. Store reads run in the thread pool through the services; the
figures of the data plane are read on the event loop (:mod:`turnout.console.figures`)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from turnout.api import views
from turnout.api.functions import triggers_json
from turnout.console import figures
from turnout.console.catalogue import Catalogue
from turnout.console.session import COOKIE, MAX_AGE_S
from turnout.console.sidebyside import side_by_side
from turnout.console.web import (
    PREFIX,
    Visitor,
    back_to,
    check_origin,
    check_post,
    form,
    page,
    services,
    signer,
)
from turnout.errors import Unauthorized
from turnout.services import Services

PAGE_SIZE = 25
VERSIONS_SHOWN = 50


async def sign_in_form(request: Request) -> Response:
    return page(request, "signin.html", next=_safe_next(request.query_params.get("next")), visitor=None)


async def sign_in(request: Request) -> Response:
    check_origin(request)  # no one signs a browser in from another site's form
    fields = await form(request)
    token = fields.get("token", "").strip()
    try:
        await run_in_threadpool(services(request).tokens.authenticate, token or None)
    except Unauthorized:
        message = "That token is not valid: check it and try again."
        return page(
            request, "signin.html", status=401, next=fields.get("next", ""), message=message, visitor=None
        )
    response = back_to(_safe_next(fields.get("next")))
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        signer(request).issue(token, time.time()),
        max_age=MAX_AGE_S,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return response


async def sign_out(request: Request, visitor: Visitor) -> Response:
    check_post(request, visitor, await form(request), "read")
    response = back_to(f"{PREFIX}/signin")
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


async def home(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/functions", status_code=303)


async def functions_page(request: Request, visitor: Visitor) -> HTMLResponse:
    query = request.query_params.get("q", "").strip()
    start = _int(request.query_params.get("page"), 1)
    catalogue: Catalogue = request.app.state.console_catalogue
    rows, more = await run_in_threadpool(catalogue.search, query, start, PAGE_SIZE)
    rows = [dict(r) for r in rows]  # the recent figures are per request, never cached
    recent = figures.recent_by_function(request.app.state.windows, [r["name"] for r in rows])
    for row in rows:
        row["recent"] = recent[row["name"]]
    return page(request, "functions.html", visitor=visitor, rows=rows, q=query, page=start, more=more)


async def function_page(request: Request, visitor: Visitor) -> HTMLResponse:
    name = request.path_params["name"]
    data = await run_in_threadpool(_function_data, services(request), name)
    data["recent"] = figures.recent_by_version(request.app.state.windows, name)
    data["workers"] = figures.warm_workers(request.app.state.gateway.supervisor, name)
    data["node"] = request.app.state.settings.node
    return page(request, "function.html", visitor=visitor, **data)


async def diff_page(request: Request, visitor: Visitor) -> HTMLResponse:
    name = request.path_params["name"]
    first, second = request.query_params.get("from", ""), request.query_params.get("to", "$LATEST")
    found = await run_in_threadpool(services(request).diff.diff, name, first, second)
    shown = views.diff_json(name, found)
    for change in shown["code"]:
        change["rows"] = side_by_side(change["diff"])
    return page(request, "diff.html", visitor=visitor, name=name, diff=shown)


def _function_data(svc: Services, name: str) -> dict[str, Any]:
    described = svc.functions.describe(name)
    latest = described.latest_version or 0
    versions = svc.versions.list(name, max(0, latest - VERSIONS_SHOWN), VERSIONS_SHOWN)
    aliases = []
    for alias in described.aliases:
        shown = views.alias_json(name, alias)
        shown["history"] = [views.change_json(c) for c in svc.aliases.history(name, alias.name, 10)]
        aliases.append(shown)
    triggers = triggers_json(svc, name)
    return {
        "function": views.function_json(described.function),
        "versions": [views.version_json(name, v) for v in reversed(versions)],
        "aliases": aliases,
        "triggers": _by_qualifier(triggers),
        "provisioned": svc.provisioning.get(name),
    }


def _by_qualifier(triggers: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """``{"prod": {"routes": [...], "schedules": [...]}}``."""
    grouped: dict[str, dict[str, list[Any]]] = {}
    for kind in ("routes", "schedules"):
        for item in triggers[kind]:
            grouped.setdefault(item["qualifier"] or "$LATEST", {"routes": [], "schedules": []})[kind].append(
                item
            )
    return grouped


def _safe_next(target: str | None) -> str:
    """Only a path of the console itself: never another site (an open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/functions"


def _int(text: str | None, default: int) -> int:
    try:
        return max(1, int(text or default))
    except ValueError:
        return default
