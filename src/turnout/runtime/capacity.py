"""What this machine can run: the defaults of per-function concurrency and of the idle-worker cap, chosen from
its cores and memory when the settings leave them at 0 (docs/settings.md gives the formulas)."""

from __future__ import annotations

import os
from dataclasses import dataclass

MIN_CONCURRENCY = 2
CONCURRENCY_PER_CORE = 8  # workers mostly wait on I/O; 8 per core keeps the cores busy
MIB_PER_RUNNING_WORKER = 128  # what one busy worker may use, beyond the memory it shares with the zygote
MIN_IDLE_CAP = 8
MIB_PER_IDLE_WORKER = 64  # an idle worker forked from the zygote: its own pages, with room to spare


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_mib: int

    @classmethod
    def this_one(cls) -> Machine:
        """This machine's usable cores (its CPU affinity) and physical memory."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return cls(max(1, cores), max(1, pages * page_size // (1024 * 1024)))


def default_concurrency(machine: Machine) -> int:
    """Invocations of one function at once on this node: 8 per core, at most one per 128 MiB of memory.

    >>> default_concurrency(Machine(cores=2, memory_mib=24_000))
    16
    >>> default_concurrency(Machine(cores=64, memory_mib=8_192))
    64
    """
    by_cores = CONCURRENCY_PER_CORE * machine.cores
    by_memory = machine.memory_mib // MIB_PER_RUNNING_WORKER
    return max(MIN_CONCURRENCY, min(by_cores, by_memory))


def default_idle_cap(machine: Machine) -> int:
    """Idle warm workers on this node at most: one per 64 MiB of memory (at least 8).

    >>> default_idle_cap(Machine(cores=2, memory_mib=24_000))
    375
    """
    return max(MIN_IDLE_CAP, machine.memory_mib // MIB_PER_IDLE_WORKER)
