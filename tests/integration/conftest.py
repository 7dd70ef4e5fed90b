"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import Server

# the rollout controller ticks every 100 ms, so bakes of a few seconds are enough in tests
FAST_ROLLOUTS = {"TURNOUT_ROLLOUT_TICK_MS": "100"}


@pytest.fixture(scope="session")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `turnout serve` whose rollout controller ticks every 100 ms, shared by the session."""
    running = Server(tmp_path_factory.mktemp("rollouts") / "data", extra_env=FAST_ROLLOUTS).start()
    yield running
    running.stop()


@pytest.fixture
def client(quick: Server) -> Iterator[httpx.Client]:
    with quick.client() as api:
        yield api
