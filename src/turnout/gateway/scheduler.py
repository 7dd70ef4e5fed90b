"""Fires schedules: each tick exactly once, across restarts and nodes (issue 6)."""

from __future__ import annotations

from turnout.clock import Clock
from turnout.gateway.invoke import Gateway
from turnout.services import Services
from turnout.settings import Settings


class Scheduler:
    def __init__(self, services: Services, gateway: Gateway, settings: Settings, clock: Clock) -> None:
        self.services, self.gateway, self.settings, self.clock = services, gateway, settings, clock

    def __repr__(self) -> str:
        return "Scheduler()"

    def start(self) -> None:
        """Begin the background loop (called in the app's lifespan, on its event loop)."""

    async def stop(self) -> None:
        """End the loop; give up this node's leases."""
