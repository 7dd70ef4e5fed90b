"""The console's URL map under ``/ui`` and :func:`mount`, which the composition root calls.

Handlers take the request (and the signed-in :class:`~turnout.console.web.Visitor`) and read their own
parameters, so every failure becomes a page rather than the API's JSON: no session sends the browser to
sign in, a :class:`~turnout.errors.TurnoutError` is shown with its status and stable code.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from turnout.console import actions, logs, pages, releases, resources, rollouts
from turnout.console.catalogue import Catalogue
from turnout.console.session import Signer
from turnout.console.web import (
    HERE,
    PREFIX,
    SignInNeeded,
    Visitor,
    current,
    error_page,
    templates,
    to_sign_in,
)
from turnout.errors import TurnoutError
from turnout.settings import Settings

log = logging.getLogger(__name__)
Page = Callable[[Request, Visitor], Awaitable[Response]]
Open = Callable[[Request], Awaitable[Response]]


def signed_in(handler: Page) -> Open:
    """Run ``handler`` for a signed-in visitor; show what goes wrong as a page."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        visitor = None
        try:
            visitor = current(request)
            return await handler(request, visitor)
        except SignInNeeded:
            return to_sign_in(request)
        except TurnoutError as exc:
            if exc.status >= 500:
                log.error("%s: %s", exc.code, exc.message)
            return error_page(request, exc, visitor)

    del endpoint.__wrapped__  # FastAPI must see (request), not the handler's own signature
    return endpoint


def guarded(handler: Open) -> Open:
    """Run an open handler (no sign-in needed); show a TurnoutError as a page."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except TurnoutError as exc:
            return error_page(request, exc)

    return endpoint


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    get, post = ["GET"], ["POST"]
    fn, alias = "/functions/{name}", "/functions/{name}/aliases/{alias}"
    r.add_api_route("", pages.home, methods=get)
    r.add_api_route("/", pages.home, methods=get)
    r.add_api_route("/signin", pages.sign_in_form, methods=get)
    r.add_api_route("/signin", guarded(pages.sign_in), methods=post)
    r.add_api_route("/signout", signed_in(pages.sign_out), methods=post)
    r.add_api_route("/functions", signed_in(pages.functions_page), methods=get)
    r.add_api_route(fn, signed_in(pages.function_page), methods=get)
    r.add_api_route(fn + "/diff", signed_in(pages.diff_page), methods=get)
    r.add_api_route(fn + "/logs", signed_in(logs.logs_page), methods=get)
    r.add_api_route(fn + "/logs.json", signed_in(logs.logs_tail), methods=get)
    r.add_api_route(fn + "/swap", signed_in(actions.confirm_swap), methods=get)
    r.add_api_route(fn + "/swap", signed_in(actions.swap), methods=post)
    r.add_api_route(alias + "/point", signed_in(actions.confirm_point), methods=get)
    r.add_api_route(alias + "/point", signed_in(actions.point), methods=post)
    r.add_api_route(alias + "/rollback", signed_in(actions.confirm_rollback), methods=get)
    r.add_api_route(alias + "/rollback", signed_in(actions.rollback), methods=post)
    r.add_api_route(alias + "/rollout", signed_in(rollouts.rollout_page), methods=get)
    r.add_api_route(alias + "/rollout.json", signed_in(rollouts.rollout_status), methods=get)
    r.add_api_route(alias + "/rollout/start", signed_in(rollouts.confirm_start), methods=get)
    r.add_api_route(alias + "/rollout", signed_in(rollouts.start), methods=post)
    r.add_api_route(alias + "/rollout/{action}", signed_in(rollouts.confirm_steer), methods=get)
    r.add_api_route(alias + "/rollout/{action}", signed_in(rollouts.steer), methods=post)
    r.add_api_route("/releases", signed_in(releases.releases_page), methods=get)
    r.add_api_route("/releases/{name}", signed_in(releases.release_page), methods=get)
    r.add_api_route("/releases/{name}/{action}", signed_in(releases.confirm_action), methods=get)
    r.add_api_route("/releases/{name}/{action}", signed_in(releases.act), methods=post)
    r.add_api_route("/resources", signed_in(resources.resources_page), methods=get)
    r.add_api_route("/resources/{name}", signed_in(resources.resource_page), methods=get)
    return r


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the console at ``/ui`` on ``app``: its pages, its static files, its signing key."""
    app.state.console_signer = Signer.from_file(settings.data_dir / "console-key")
    app.state.console_templates = templates()
    app.state.console_catalogue = Catalogue(app.state.services)
    app.include_router(router())
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
