"""/v1/tokens: scoped API tokens (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from turnout.api.deps import requires, services
from turnout.api.schemas import TokenBody
from turnout.services import Services
from turnout.services.tokens import Principal

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])
ADMIN = requires("admin")


@router.post("", status_code=201)
def create_token(body: TokenBody, svc: Services = Depends(services), _: Principal = Depends(ADMIN)) -> dict[str, Any]:
    token = svc.tokens.create(body.name, frozenset(body.scopes))
    return {"name": body.name, "scopes": sorted(body.scopes), "token": token}


@router.get("")
def list_tokens(svc: Services = Depends(services), _: Principal = Depends(ADMIN)) -> dict[str, Any]:
    return {"tokens": [{"name": n, "scopes": sorted(s)} for n, s in svc.tokens.list()]}


@router.delete("/{token_name}", status_code=204)
def delete_token(token_name: str, svc: Services = Depends(services), _: Principal = Depends(ADMIN)) -> None:
    svc.tokens.delete(token_name)

