"""A feed of "this function changed" notices, so in-memory views (the routing table) stay current.

Services publish after their transaction commits; subscribers run synchronously, so by the time the
API answers a change, every subscriber on this node has seen it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class ChangeFeed:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[str], None]] = []

    def __repr__(self) -> str:
        return f"ChangeFeed(subscribers={len(self._subscribers)})"

    def subscribe(self, subscriber: Callable[[str], None]) -> None:
        self._subscribers.append(subscriber)

    def publish(self, function: str) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(function)
            except Exception:  # noqa: BLE001 - one broken view must not fail the change that committed
                log.exception("change subscriber failed for %s", function)
