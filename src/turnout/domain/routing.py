"""Where an alias sends traffic: one version, or several with weights in basis points.

Weights are stored as integer basis points (0-10000 summing to exactly 10000) and shown as
percentages with at most two decimals, so 33.33% + 33.33% + 33.34% is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from turnout.domain.names import LATEST
from turnout.domain.version_number import looks_numeric, parse_version_number
from turnout.errors import InvalidAliasTarget, InvalidWeights

BASIS_POINTS = 10_000


def percent_to_bp(value: str | int | float | Decimal) -> int:
    """Convert a percentage to basis points, refusing more than two decimals.

    >>> percent_to_bp("33.33"), percent_to_bp(70), percent_to_bp(0.5)
    (3333, 7000, 50)
    """
    try:
        exact = Decimal(str(value)) * 100
    except InvalidOperation as exc:
        raise InvalidWeights(f"weight {value!r} is not a number") from exc
    if exact != exact.to_integral_value():
        raise InvalidWeights(f"weight {value}% has more than two decimals")
    return int(exact)


def bp_to_percent(bp: int) -> float:
    """Basis points as a percentage.

    >>> bp_to_percent(3333)
    33.33
    """
    return bp / 100


@dataclass(frozen=True, order=True)
class Route:
    """One version of an alias and its share of traffic. ``version=None`` means ``$LATEST``."""

    version: int | None
    weight_bp: int

    @property
    def label(self) -> str:
        return LATEST if self.version is None else str(self.version)


@dataclass(frozen=True)
class Routing:
    """An alias's target: routes sorted by version, weights summing to exactly 10000 bp."""

    routes: tuple[Route, ...]

    def __post_init__(self) -> None:
        if not self.routes:
            raise InvalidWeights("an alias needs at least one version")
        versions = [r.version for r in self.routes]
        if len(set(versions)) != len(versions):
            raise InvalidWeights("a version appears twice in the alias's weights")
        for route in self.routes:
            if route.version is not None and route.version < 1:
                raise InvalidAliasTarget(f"version {route.version} does not exist: versions start at 1")
            if not 0 < route.weight_bp <= BASIS_POINTS:
                raise InvalidWeights(
                    f"version {route.label} has weight {bp_to_percent(route.weight_bp):g}%: "
                    "each weight must be more than 0% and at most 100%"
                )
        total = sum(r.weight_bp for r in self.routes)
        if total != BASIS_POINTS:
            raise InvalidWeights(
                f"weights sum to {bp_to_percent(total):g}%, they must sum to exactly 100%",
                total_percent=bp_to_percent(total),
            )
        if len(self.routes) > 1 and None in versions:
            raise InvalidAliasTarget(f"an alias that splits traffic cannot include {LATEST}")
        ordered = tuple(sorted(self.routes, key=lambda r: -1 if r.version is None else r.version))
        object.__setattr__(self, "routes", ordered)

    @classmethod
    def single(cls, version: int | None) -> Routing:
        return cls((Route(version, BASIS_POINTS),))

    @classmethod
    def from_percentages(cls, weights: Mapping[int | None, str | int | float | Decimal]) -> Routing:
        """Build from percentages per version.

        >>> Routing.from_percentages({3: 70, 4: 30}).describe()
        '3 (70%), 4 (30%)'
        """
        return cls(tuple(Route(v, percent_to_bp(p)) for v, p in weights.items()))

    @property
    def versions(self) -> tuple[int | None, ...]:
        return tuple(r.version for r in self.routes)

    @property
    def is_split(self) -> bool:
        return len(self.routes) > 1

    def describe(self) -> str:
        if not self.is_split:
            return self.routes[0].label
        return ", ".join(f"{r.label} ({bp_to_percent(r.weight_bp):g}%)" for r in self.routes)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"version": r.label, "weight_bp": r.weight_bp} for r in self.routes]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Routing:
        return cls(tuple(Route(_version(d["version"]), int(d["weight_bp"])) for d in data))


def parse_target(label: str | int | None) -> int | None:
    """Read one alias target: a version number or ``$LATEST`` (``None``); never another alias.

    >>> parse_target("3"), parse_target("$LATEST")
    (3, None)
    """
    text = LATEST if label is None else str(label).strip()
    if text == LATEST:
        return None
    if looks_numeric(text):
        return parse_version_number(text, "alias target")
    if text[:1].isdigit() or text[:1] in "-+.":
        raise InvalidAliasTarget(
            f"alias target {text!r}: version numbers are whole numbers from 1", target=text
        )
    raise InvalidAliasTarget(
        f"alias target {text!r} is not a version: an alias points at version numbers "
        f"(or {LATEST}), never at another alias",
        target=text,
    )


def routing_from_labels(weights: Mapping[str, str | int | float]) -> Routing:
    """Build from labels (``"3"``, ``"$LATEST"``) and percentages.

    >>> routing_from_labels({"3": "70", "4": 30}).describe()
    '3 (70%), 4 (30%)'
    """
    return Routing.from_percentages({parse_target(label): pct for label, pct in weights.items()})


def _version(label: str | int | None) -> int | None:
    if label is None or label == LATEST:
        return None
    return int(label)


def referenced_versions(routings: Iterable[Routing]) -> set[int]:
    """Every numbered version that any of ``routings`` sends traffic to."""
    return {v for routing in routings for v in routing.versions if v is not None}
