"""/v1/secrets: the secret key that seals environment values at rest (admin only)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from turnout.api.deps import Admin, ServicesDep

router = APIRouter(prefix="/v1/secrets", tags=["secrets"])


@router.post("/rotate-key")
async def rotate_key(svc: ServicesDep, _: Admin) -> dict[str, Any]:
    """Seal every stored secret under a new key, in one transaction, and make it the key file."""
    report = await asyncio.to_thread(svc.secrets.rotate_key)
    return {"resealed_values": report.values, "key_file": report.key_file}
