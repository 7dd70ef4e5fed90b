"""The console's shared-resource pages: every resource and its version, and one resource - its moves and
the live versions that require it, in range or OUT OF RANGE (what ``turnout resource describe`` shows),
read in one transaction (``ResourceService.describe``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from turnout.api.resources import resource_change_json, resource_json
from turnout.console.web import Visitor, page, services
from turnout.domain.names import LATEST

HISTORY_SHOWN = 50


async def resources_page(request: Request, visitor: Visitor) -> HTMLResponse:
    found = await run_in_threadpool(services(request).resources.list)
    return page(request, "resources.html", visitor=visitor, resources=[resource_json(r) for r in found])


async def resource_page(request: Request, visitor: Visitor) -> HTMLResponse:
    name = request.path_params["name"]
    found = await run_in_threadpool(services(request).resources.describe, name, HISTORY_SHOWN)
    users = [
        {"function": f, "version": LATEST if v is None else v, "requires": spec, "ok": ok, "via": list(via)}
        for f, v, spec, ok, via in found.users
    ]
    return page(
        request,
        "resource.html",
        visitor=visitor,
        resource=resource_json(found.resource),
        history=[resource_change_json(c) for c in found.history],
        users=users,
        shown=HISTORY_SHOWN,
    )
