"""Whether this node should receive traffic: the readiness probe's answer (``GET /v1/ready``).

Liveness (``GET /v1/health``) says the process answers; readiness says a load balancer may send it requests:
the routing table is loaded, the change feed has started listening (cluster mode), the zygote is up, and
the node is not draining for a graceful shutdown. Losing PostgreSQL later does not make a node unready: it
keeps serving from memory (``degraded`` says why), since taking every node out of the load balancer when
the database blips would turn a control-plane outage into a full one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Readiness:
    loaded: bool = False
    draining: bool = False
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)  # reason -> still fine?
    warnings: dict[str, Callable[[], bool]] = field(default_factory=dict)  # degraded, still serving

    def reasons(self) -> list[str]:
        """Why the node is not ready; empty when it is."""
        found = [] if self.loaded else ["the routing table is not loaded yet"]
        found += [reason for reason, fine in self.checks.items() if not fine()]
        if self.draining:
            found.append("draining for shutdown")
        return found

    def degraded(self) -> list[str]:
        return [reason for reason, fine in self.warnings.items() if not fine()]
