"""The console's plumbing: its templates, who is signed in, CSRF checks, and errors shown as pages.

Every page handler gets a :class:`Visitor` (the authenticated principal, its session and the CSRF token of
its forms) from :func:`visitor`; a browser without a valid session is sent to the sign-in page. Errors of
the services (:class:`~turnout.errors.TurnoutError`) are rendered by :func:`error_page` with the same
status and stable code the API answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from turnout.console.session import COOKIE, Session, Signer
from turnout.errors import Forbidden, InvalidInput, TurnoutError, Unauthorized
from turnout.services import Services
from turnout.services.tokens import Principal

HERE = Path(__file__).parent
PREFIX = "/ui"
MAX_FORM_BYTES = 64 * 1024


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["ui"] = PREFIX
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters["pct"] = lambda value: f"{value * 100:.1f}%"
    return env


@dataclass(frozen=True)
class Visitor:
    """Who is looking at a page: their principal, session and form token."""

    principal: Principal
    session: Session
    csrf: str

    def can(self, scope: str) -> bool:
        return self.principal.allows(scope)


class SignInNeeded(Exception):
    """No valid session: the handler answers with a redirect to the sign-in page."""


def signer(request: Request) -> Signer:
    return request.app.state.console_signer  # type: ignore[no-any-return]


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def current(request: Request) -> Visitor:
    """The signed-in visitor, or :class:`SignInNeeded` (no or stale cookie, or a revoked token)."""
    sign = signer(request)
    session = sign.read(request.cookies.get(COOKIE), time.time())
    if session is None:
        raise SignInNeeded
    try:
        principal = services(request).tokens.authenticate(session.token)
    except Unauthorized as exc:
        raise SignInNeeded from exc
    return Visitor(principal, session, sign.csrf(session))


async def form(request: Request) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` post (the last value of a repeated field)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput(f"the form is larger than {MAX_FORM_BYTES} bytes")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def check_origin(request: Request) -> None:
    """Refuse (403) a post a browser says comes from another site (its ``Origin`` is not this host)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forbidden(f"a form of another site ({origin}) cannot act here")


def check_post(request: Request, visitor: Visitor, fields: dict[str, str], scope: str) -> None:
    """Refuse (403) a post from another site, whose CSRF token is wrong, or whose visitor lacks ``scope``."""
    check_origin(request)
    if not signer(request).csrf_ok(visitor.session, fields.get("csrf")):
        raise Forbidden("the form's security token is missing or wrong: reload the page and try again")
    visitor.principal.require(scope)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    env: Environment = request.app.state.console_templates
    html = env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def error_page(request: Request, exc: TurnoutError, visitor: Visitor | None = None) -> HTMLResponse:
    return page(request, "error.html", status=exc.status, error=exc, visitor=visitor)


def to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/signin?next={quote(target, safe='')}", status_code=303)


def back_to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
}
