"""Choosing the version that serves one request of an alias."""

from __future__ import annotations

import hashlib

from turnout.domain.routing import BASIS_POINTS, Route, Routing


def routing_point(key: str) -> int:
    """Where a routing key falls on the 0-9999 line: a stable hash, the same on every node.

    >>> routing_point("user-42") == routing_point("user-42")
    True
    """
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BASIS_POINTS


def pick(routing: Routing, key: str | None, draw: float) -> int | None:
    """The version for one request: by the routing key's point when there is a key, else by ``draw``.

    Routes are laid on the line newest version first, so while the newest version's weight only grows,
    every key already on it stays on it (a sticky canary), and a key's version never changes while the
    weights stay the same. ``draw`` is a uniform number in [0, 1).

    >>> r = Routing.from_percentages({1: 90, 2: 10})
    >>> pick(r, None, 0.05), pick(r, None, 0.5)
    (2, 1)
    """
    point = routing_point(key) if key is not None else int(draw * BASIS_POINTS)
    routes = _newest_first(routing)
    for route in routes:
        if point < route.weight_bp:
            return route.version
        point -= route.weight_bp
    return routes[-1].version


def _newest_first(routing: Routing) -> tuple[Route, ...]:
    return tuple(reversed(routing.routes))
