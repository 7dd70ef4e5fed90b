"""Whether this node should receive traffic: the readiness probe's answer (``GET /v1/ready``).

Liveness (``GET /v1/health``) says the process answers; readiness says a load balancer may send it requests:
the routing table is loaded, the change feed listens (cluster mode), the zygote is up, and the node is not
draining for a graceful shutdown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Readiness:
    loaded: bool = False
    draining: bool = False
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)  # reason -> still fine?

    def reasons(self) -> list[str]:
        """Why the node is not ready; empty when it is."""
        found = [] if self.loaded else ["the routing table is not loaded yet"]
        found += [reason for reason, fine in self.checks.items() if not fine()]
        if self.draining:
            found.append("draining for shutdown")
        return found
