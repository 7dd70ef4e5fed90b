"""Provisioned concurrency, applied: each pool's minimum of warm workers follows the settings.

A routing-table listener: after every change of a function (an alias moved, a setting changed) it
recomputes how many workers each (version, alias) must keep warm, lowers the minimum of pools that
no longer need it (the reaper then lets them shrink) and warms the others before the change is
acknowledged, so an alias moved onto a provisioned version never meets a cold start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from turnout.domain.names import parse_qualifier
from turnout.domain.provisioning import allocate
from turnout.gateway.table import Entry
from turnout.runtime.pool import PoolKey
from turnout.runtime.supervisor import Supervisor, Target

log = logging.getLogger(__name__)


def desired(entry: Entry, share: Callable[[int], int] = int) -> dict[PoolKey, tuple[Target, int]]:
    """Warm workers wanted per pool for one function, from its provisioned settings: ``share`` gives this
    node's part of each cluster-wide setting (all of it on one node)."""
    wanted: dict[PoolKey, tuple[Target, int]] = {}

    def add(target: Target, count: int) -> None:
        if count > 0:
            previous = wanted.get(target.key, (target, 0))[1]
            wanted[target.key] = (target, previous + count)

    for qualifier, total in entry.provisioned.items():
        workers = share(total)
        parsed = parse_qualifier(qualifier)
        if parsed.alias is not None and parsed.alias in entry.aliases:
            for version, count in allocate(workers, entry.aliases[parsed.alias].routing).items():
                add(entry.target(version, parsed.alias), count)
        elif parsed.version is not None and parsed.version in entry.versions:
            add(entry.target(parsed.version, None), workers)
    return wanted


class Provisioner:
    def __init__(
        self,
        supervisor: Supervisor,
        loop: asyncio.AbstractEventLoop,
        timeout: float,
        share: Callable[[int], int] = int,
    ) -> None:
        self.supervisor = supervisor
        self.share = share
        self.loop = loop
        self.timeout = timeout
        self._keys: dict[str, set[PoolKey]] = {}

    def __repr__(self) -> str:
        return f"Provisioner(functions={len(self._keys)})"

    def listener(self, name: str, before: Entry | None, after: Entry | None) -> None:
        """Routing-table listener (runs in the thread that made the change)."""
        wanted = {} if after is None else desired(after, self.share)
        if not wanted and name not in self._keys:
            return
        future = asyncio.run_coroutine_threadsafe(self.apply(name, wanted), self.loop)
        try:
            future.result(self.timeout)
        except Exception:  # noqa: BLE001 - the reaper keeps trying; invocations still work, cold
            log.exception("could not warm provisioned workers of %s", name)

    async def apply(self, name: str, wanted: dict[PoolKey, tuple[Target, int]]) -> None:
        for key in self._keys.get(name, set()) - set(wanted):
            pool = self.supervisor.pools.get(key)
            if pool is not None:
                pool.min_warm = 0
        self._keys[name] = set(wanted)
        if not wanted:
            del self._keys[name]
        pools = []
        for target, count in wanted.values():
            pool = await self.supervisor.pool(target)
            pool.min_warm = count
            pools.append((pool, count))
        await asyncio.gather(*(pool.warm(count) for pool, count in pools))
