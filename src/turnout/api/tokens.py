"""/v1/tokens: scoped API tokens (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from turnout.api.deps import Admin, ServicesDep
from turnout.api.schemas import TokenBody

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post("", status_code=201)
def create_token(body: TokenBody, svc: ServicesDep, _: Admin) -> dict[str, Any]:
    token = svc.tokens.create(body.name, frozenset(body.scopes))
    return {"name": body.name, "scopes": sorted(body.scopes), "token": token}


@router.get("")
def list_tokens(svc: ServicesDep, _: Admin) -> dict[str, Any]:
    return {"tokens": [{"name": n, "scopes": sorted(s)} for n, s in svc.tokens.list()]}


@router.delete("/{token_name}", status_code=204)
def delete_token(token_name: str, svc: ServicesDep, _: Admin) -> None:
    svc.tokens.delete(token_name)
