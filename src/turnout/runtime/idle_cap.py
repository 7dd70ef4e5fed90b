"""The node-wide cap on idle warm workers: which idle workers to stop when there are more than the cap.

Only idle workers are candidates, and never the ones a pool's floor (provisioned concurrency, a rollout's
pre-warmed workers) keeps: a pool of ``size`` workers with floor ``min_warm`` offers at most
``size - min_warm`` of its idle workers, its least recently used first. Across pools, the least recently
used candidates go first, until the node is back at the cap. Busy and starting workers are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from turnout.runtime.pool import Pool
from turnout.runtime.worker import Worker


def evict_idle(pools: Iterable[Pool], cap: int) -> int:
    """Stop the least recently used idle workers beyond ``cap`` (floors kept); returns how many stopped."""
    pools = list(pools)
    excess = sum(len(pool.idle) for pool in pools) - cap
    if excess <= 0:
        return 0
    candidates = sorted(_candidates(pools), key=lambda found: found[1].last_used)
    for pool, worker in candidates[:excess]:
        pool.idle.remove(worker)
        worker.kill()
    return min(excess, len(candidates))


def _candidates(pools: list[Pool]) -> list[tuple[Pool, Worker]]:
    """Each pool's idle workers beyond its floor, its least recently used first."""
    found: list[tuple[Pool, Worker]] = []
    for pool in pools:
        removable = max(0, min(len(pool.idle), pool.size - pool.min_warm))
        oldest = sorted(pool.idle, key=lambda w: w.last_used)[:removable]
        found.extend((pool, worker) for worker in oldest)
    return found
