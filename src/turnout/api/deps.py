"""Request dependencies: the services, and who is calling with which scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from turnout.services import Services
from turnout.services.tokens import Principal


async def services(request: Request) -> Services:
    """Async on purpose: it only reads app state, so it needs no thread-pool hop."""
    return request.app.state.services  # type: ignore[no-any-return]


def requires(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates the bearer token and checks it grants ``scope``."""

    def dependency(
        svc: Annotated[Services, Depends(services)],
        authorization: Annotated[str | None, Header()] = None,
    ) -> Principal:
        token = None
        if authorization:
            kind, _, value = authorization.partition(" ")
            token = value.strip() if kind.lower() == "bearer" else None
        principal = svc.tokens.authenticate(token)
        principal.require(scope)
        return principal

    return dependency


ServicesDep = Annotated[Services, Depends(services)]
Reader = Annotated[Principal, Depends(requires("read"))]
Deployer = Annotated[Principal, Depends(requires("deploy"))]
Admin = Annotated[Principal, Depends(requires("admin"))]
IfMatch = Annotated[str | None, Header(description="the revision id you last read (optimistic concurrency)")]
