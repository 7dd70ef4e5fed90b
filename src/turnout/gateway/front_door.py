"""Serving HTTP routes on the gateway's port: raw ASGI in front of the app (issue 6)."""

from __future__ import annotations

from typing import Any


class RouteDoor:
    """Requests that match a route go to its function; everything else to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state

    def __repr__(self) -> str:
        return f"RouteDoor({self.app!r})"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
