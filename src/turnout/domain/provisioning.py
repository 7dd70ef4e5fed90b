"""How provisioned workers of an alias are spread over the versions it routes to."""

from __future__ import annotations

from turnout.domain.routing import BASIS_POINTS, Routing


def allocate(workers: int, routing: Routing) -> dict[int | None, int]:
    """Split ``workers`` by weight, exactly (largest remainder), so the counts sum to ``workers``.

    >>> allocate(3, Routing.from_percentages({1: 70, 2: 30}))
    {1: 2, 2: 1}
    >>> allocate(4, Routing.single(5))
    {5: 4}
    """
    shares = [(r.version, workers * r.weight_bp) for r in routing.routes]
    counts = {version: share // BASIS_POINTS for version, share in shares}
    left = workers - sum(counts.values())
    by_remainder = sorted(shares, key=lambda s: (-(s[1] % BASIS_POINTS), s[0] or 0))
    for version, _ in by_remainder[:left]:
        counts[version] += 1
    return counts
