"""Request dependencies: the services, and who is calling with which scope."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Header, Request

from turnout.services import Services
from turnout.services.tokens import Principal


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def requires(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates the bearer token and checks it grants ``scope``."""

    def dependency(
        authorization: str | None = Header(default=None), svc: Services = Depends(services)
    ) -> Principal:
        token = None
        if authorization:
            kind, _, value = authorization.partition(" ")
            token = value.strip() if kind.lower() == "bearer" else None
        principal = svc.tokens.authenticate(token)
        principal.require(scope)
        return principal

    return dependency
