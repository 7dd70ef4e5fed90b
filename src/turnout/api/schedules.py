"""/v1/schedules (issue 6)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["schedules"])
