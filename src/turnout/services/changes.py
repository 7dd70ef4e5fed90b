"""A feed of "this changed" notices, so in-memory views (routing table, route table, caches) stay current.

A change is a (topic, key) pair: ``function`` with the function's name (its draft, versions, aliases,
provisioned and reserved concurrency, async configs, URLs), ``routes``, ``tokens``, ``urls``, or ``all``
(a node that missed changes reloads everything). Services announce changes inside their transaction
(``tx.announce``); the store hands them to :meth:`ChangeFeed.deliver` once it has committed, and in a
cluster (``turnout.cluster.feed``) other nodes deliver them too, as they arrive. Subscribers run
synchronously, so by the time the API answers a change, every subscriber on this node has seen it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

FUNCTION, ROUTES, TOKENS, URLS, ALL = "function", "routes", "tokens", "urls", "all"


class ChangeFeed:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callable[[str], None]]] = {}

    def __repr__(self) -> str:
        return f"ChangeFeed(subscribers={sum(map(len, self._subscribers.values()))})"

    def subscribe(self, subscriber: Callable[[str], None], topic: str = FUNCTION) -> None:
        """Call ``subscriber(key)`` for every change of ``topic`` (``all`` changes are given as ``"*"``)."""
        self._subscribers.setdefault(topic, []).append(subscriber)

    def publish(self, key: str, topic: str = FUNCTION) -> None:
        for subscriber in self._subscribers.get(topic, ()):
            try:
                subscriber(key)
            except Exception:  # noqa: BLE001 - one broken view must not fail the change that committed
                log.exception("change subscriber failed for %s %s", topic, key)

    def deliver(self, changes: Iterable[tuple[str, str]]) -> None:
        """Hand committed changes to their subscribers; ``all`` reaches every subscriber of every topic."""
        for topic, key in changes:
            if topic == ALL:
                for each in list(self._subscribers):
                    self.publish("*", each)
            else:
                self.publish(key, topic)
