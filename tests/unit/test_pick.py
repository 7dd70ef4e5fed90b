"""Choosing a version per request, and spreading provisioned workers: pure rules."""

from __future__ import annotations

import doctest
import random

import pytest

from turnout.domain import pick as pick_module
from turnout.domain import provisioning as provisioning_module
from turnout.domain.pick import pick
from turnout.domain.provisioning import allocate
from turnout.domain.routing import Routing

KEYS = [f"user-{i}" for i in range(5000)]


@pytest.mark.parametrize("module", [pick_module, provisioning_module])
def test_worked_examples_hold(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_draws_follow_the_weights() -> None:
    routing = Routing.from_percentages({1: 70, 2: 30})
    rng = random.Random(3)
    picks = [pick(routing, None, rng.random()) for _ in range(20000)]
    assert abs(picks.count(2) / len(picks) - 0.30) < 0.02


def test_a_key_keeps_its_version_while_weights_stay() -> None:
    routing = Routing.from_percentages({1: 50, 2: 30, 3: 20})
    first = {key: pick(routing, key, 0.0) for key in KEYS}
    assert all(pick(routing, key, 0.99) == version for key, version in first.items())
    share = sum(1 for v in first.values() if v == 3) / len(KEYS)
    assert abs(share - 0.20) < 0.03


def test_keys_on_the_newest_version_stay_there_as_its_weight_grows() -> None:
    weights = [5, 10, 25, 50, 75, 100]
    on_candidate: set[str] = set()
    for weight in weights:
        routing = (
            Routing.from_percentages({1: 100 - weight, 2: weight}) if weight < 100 else Routing.single(2)
        )
        now_on = {key for key in KEYS if pick(routing, key, 0.0) == 2}
        assert on_candidate <= now_on
        on_candidate = now_on
    assert on_candidate == set(KEYS)


@pytest.mark.parametrize(
    ("workers", "weights", "expected"),
    [
        (3, {1: 70, 2: 30}, {1: 2, 2: 1}),
        (3, {1: 50, 2: 50}, {1: 2, 2: 1}),
        (1, {1: 90, 2: 10}, {1: 1, 2: 0}),
        (10, {1: 33.33, 2: 33.33, 3: 33.34}, {1: 3, 2: 3, 3: 4}),
    ],
)
def test_provisioned_workers_are_spread_exactly_by_weight(
    workers: int, weights: dict[int, float], expected: dict[int, int]
) -> None:
    counts = allocate(workers, Routing.from_percentages(weights))
    assert counts == expected and sum(counts.values()) == workers
