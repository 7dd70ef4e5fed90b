"""The node-wide cap on idle workers: least recently used first, floors and busy workers kept."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from turnout.runtime.idle_cap import evict_idle
from turnout.runtime.pool import Pool, PoolKey
from turnout.runtime.worker import Worker, _Channel


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def _pool(name: str, processes: list[subprocess.Popen[bytes]], used: list[float], floor: int = 0) -> Pool:
    pool = Pool(PoolKey(name, "1", "x"), {}, lambda: None)
    for last_used in used:
        process = subprocess.Popen(["sleep", "60"])  # a real process for the worker to stop
        processes.append(process)
        pool.idle.append(Worker(process.pid, _Channel(process.pid), last_used=last_used, reaper=process.wait))
    pool.min_warm = floor
    return pool


def test_the_least_recently_used_idle_workers_go_first(processes: list[subprocess.Popen[bytes]]) -> None:
    a = _pool("a", processes, [1.0, 5.0])
    b = _pool("b", processes, [2.0, 6.0, 7.0])
    assert evict_idle([a, b], cap=3) == 2
    assert [w.last_used for w in a.idle] == [5.0] and [w.last_used for w in b.idle] == [6.0, 7.0]
    assert [p.poll() is not None for p in processes] == [True, False, True, False, False]


def test_floors_and_busy_workers_are_kept(processes: list[subprocess.Popen[bytes]]) -> None:
    provisioned = _pool("p", processes, [1.0, 2.0], floor=2)
    busy = _pool("b", processes, [3.0])
    busy.busy = 2  # two running and one idle: all three are its floor of 3
    busy.min_warm = 3
    plain = _pool("c", processes, [4.0, 5.0])
    assert evict_idle([provisioned, busy, plain], cap=0) == 2
    assert len(provisioned.idle) == 2 and len(busy.idle) == 1 and plain.idle == []


def test_under_the_cap_nothing_is_stopped(processes: list[subprocess.Popen[bytes]]) -> None:
    pool = _pool("a", processes, [1.0, 2.0])
    assert evict_idle([pool], cap=2) == 0 and len(pool.idle) == 2
