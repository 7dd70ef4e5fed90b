"""HTTP routes: method + host + path bound to a function's qualifier (issue 6)."""

from __future__ import annotations

from turnout.clock import Clock
from turnout.services.changes import ChangeFeed
from turnout.store import Store


class RouteService:
    def __init__(self, store: Store, clock: Clock, changes: ChangeFeed) -> None:
        self.store, self.clock, self.changes = store, clock, changes

    def __repr__(self) -> str:
        return f"RouteService({self.store!r})"
