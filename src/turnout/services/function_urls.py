"""Function URLs: an HTTP endpoint bound to a function's alias (or $LATEST)."""

from __future__ import annotations

from turnout.clock import Clock
from turnout.store import Store


class FunctionUrlService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def __repr__(self) -> str:
        return f"FunctionUrlService({self.store!r})"
