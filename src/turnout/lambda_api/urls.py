"""Function URL configs (``/2021-10-31/functions/{FunctionName}/url``) and serving function URLs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["lambda"])
