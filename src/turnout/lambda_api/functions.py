"""``/2015-03-31/functions``: functions, versions, aliases and Invoke, as AWS Lambda has them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/2015-03-31/functions", tags=["lambda"])
