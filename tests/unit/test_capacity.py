"""The defaults chosen from the machine: per-function concurrency and the idle-worker cap."""

from __future__ import annotations

import pytest

from turnout.errors import InvalidInput
from turnout.runtime.capacity import Machine, default_concurrency, default_idle_cap
from turnout.settings import Settings


@pytest.mark.parametrize(
    ("cores", "memory_mib", "expected"),
    [(2, 24_000, 16), (64, 8_192, 64), (1, 200, 2), (4, 1_024, 8)],
)
def test_concurrency_is_8_per_core_at_most_one_per_128_mib(
    cores: int, memory_mib: int, expected: int
) -> None:
    assert default_concurrency(Machine(cores, memory_mib)) == expected


def test_the_idle_cap_is_one_per_64_mib_and_at_least_8() -> None:
    assert default_idle_cap(Machine(2, 24_000)) == 375
    assert default_idle_cap(Machine(2, 256)) == 8


def test_this_machine_is_read() -> None:
    here = Machine.this_one()
    assert here.cores >= 1 and here.memory_mib > 64


@pytest.mark.parametrize(
    "environ",
    [
        {"TURNOUT_FUNCTION_CONCURRENCY": "-1"},
        {"TURNOUT_WORKER_IDLE_CAP": "-5"},
        {"TURNOUT_QUEUE_LENGTH": "-1"},
        {"TURNOUT_QUEUE_WAIT_MS": "-1"},
    ],
)
def test_negative_bounds_are_refused_with_the_setting_named(environ: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match=next(iter(environ))):
        Settings.from_environ(environ)


def test_the_worked_examples_hold() -> None:
    import doctest

    from turnout.runtime import admission, capacity

    assert doctest.testmod(capacity).failed == 0
    assert doctest.testmod(admission).failed == 0
