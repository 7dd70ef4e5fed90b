"""The pure compatibility rules: resource versions, [requires] ranges, clashes, and which moves gain
traffic; and the rollout machine's ``blocked`` hold (with a fake clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from turnout.domain import rollout as machine
from turnout.domain.compat import (
    Clash,
    allows,
    check_requires,
    check_resource_name,
    clashes,
    gaining,
    parse_resource_version,
    parse_specifier,
    refusal,
)
from turnout.domain.config import FunctionConfig, fingerprint
from turnout.domain.diff import diff_config
from turnout.domain.gates import Metrics
from turnout.domain.routing import Routing
from turnout.domain.strategy import canary
from turnout.errors import InvalidInput, InvalidName


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "normal"), [("7", "7"), ("1.2", "1.2"), ("07", "7"), (7, "7"), ("2.0rc1", "2.0rc1")]
)
def test_resource_versions_are_pep440_and_normalized(text: object, normal: str) -> None:
    assert parse_resource_version(text) == normal


@pytest.mark.parametrize("text", ["", "seven", "1..2", True, None, "x" * 65, [7]])
def test_bad_resource_versions_are_refused_with_a_clear_message(text: object) -> None:
    with pytest.raises(InvalidInput, match="PEP 440"):
        parse_resource_version(text, "orders-db")


@pytest.mark.parametrize("name", ["orders-db", "orders_db", "schema.v2", "A1"])
def test_resource_names(name: str) -> None:
    assert check_resource_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "has space", "a/b", "x" * 65, 7])
def test_bad_resource_names_are_refused(name: object) -> None:
    with pytest.raises(InvalidName):
        check_resource_name(name)


def test_specifiers_are_normalized_and_bad_ones_name_the_resource() -> None:
    assert parse_specifier(">=6, <8", "orders-db") == "<8,>=6"
    with pytest.raises(InvalidInput, match="'orders-db'.*not a PEP 440 specifier"):
        parse_specifier("between 6 and 8", "orders-db")
    with pytest.raises(InvalidInput, match="orders-db"):
        parse_specifier("", "orders-db")
    with pytest.raises(InvalidInput, match="orders-db"):
        parse_specifier(7, "orders-db")
    with pytest.raises(InvalidInput, match="table"):
        check_requires(["orders-db"])
    assert check_requires({"b": ">=1", "a": "==7.*"}) == {"a": "==7.*", "b": ">=1"}


def test_ranges_include_and_exclude() -> None:
    assert allows(">=6,<8", "7") and allows(">=6,<8", "6") and not allows(">=6,<8", "8")
    assert allows("<7", "6.9") and not allows("<7", "7")
    assert allows(">=1.2", "1.10")  # versions, not strings
    assert allows(">=7", "7.0rc1") is False and allows(">=7.0rc1", "7.0rc1")


def test_clashes_name_function_version_resource_current_and_range() -> None:
    requires = {"orders-db": "<7", "events": ">=2"}
    found = clashes("orders", 3, requires, {"orders-db": "7", "events": "2"}, via=["alias prod"])
    assert found == [Clash("orders", 3, "orders-db", "7", "<7", ("alias prod",))]
    text = found[0].describe()
    assert "orders v3" in text and "orders-db <7" in text and "is 7" in text and "alias prod" in text
    assert "orders v3" in refusal(found, "pointing alias prod") and "force" in refusal(found, "x")


def test_a_missing_resource_is_unknown_never_a_clash() -> None:
    assert clashes("orders", 3, {"orders-db": "<7"}, {}) == []
    assert clashes("orders", None, {"orders-db": "<7"}, {"other": "1"}) == []


def test_only_versions_that_gain_traffic_are_checked() -> None:
    three, four = Routing.single(3), Routing.single(4)
    split = Routing.from_percentages({3: 90, 4: 10})
    assert gaining(None, three) == [3]  # a new alias
    assert gaining(three, four) == [4]
    assert gaining(three, split) == [4]  # 3 loses traffic
    assert gaining(split, three) == [3]  # a rollback: the baseline gains
    assert gaining(split, Routing.from_percentages({3: 50, 4: 50})) == [4]
    assert gaining(three, three) == []
    assert gaining(Routing.single(None), three) == [3]
    assert gaining(three, Routing.single(None)) == [None]


def test_requires_is_part_of_the_config_and_its_fingerprint_only_when_set() -> None:
    plain = FunctionConfig(handler="app.handler")
    needing = FunctionConfig(handler="app.handler", requires={"orders-db": ">=6, <8"})
    assert "requires" not in plain.to_json()  # fingerprints of versions published before it hold
    assert needing.requires == {"orders-db": "<8,>=6"}
    assert FunctionConfig.from_json(needing.to_json()) == needing
    assert fingerprint("sha", plain, ()) != fingerprint("sha", needing, ())
    assert fingerprint("sha", plain, ()) == fingerprint("sha", FunctionConfig.from_json(plain.to_json()), ())
    changed = needing.with_changes(requires={"orders-db": ">=7"})
    assert [(c.key, c.before, c.after) for c in diff_config(needing, changed)] == [
        ("requires orders-db", "<8,>=6", ">=7")
    ]
    with pytest.raises(InvalidInput, match="orders-db"):
        FunctionConfig(handler="app.handler", requires={"orders-db": "~~7"})


def test_a_blocked_rollback_holds_the_rollout_paused_where_it_is() -> None:
    clock = FakeClock()
    rollout = machine.start("prod", 3, 4, canary(1000, 60), clock())
    first = machine.decide(rollout, Metrics(), machine.Policy(), clock())
    clock.advance(5)
    baking = machine.decide(first.rollout, Metrics(), machine.Policy(), clock()).rollout
    clock.advance(5)
    held = machine.blocked(baking, clock(), "rollback to 3 blocked: orders-db is 7, v3 requires <7")
    assert held.routing is None and held.state is machine.State.PAUSED
    assert held.rollout.paused_from is machine.State.BAKING and held.rollout.step == 0
    assert held.rollout.history[-1].reason.startswith("rollback to 3 blocked")
    clock.advance(5)
    again = machine.blocked(held.rollout, clock(), "rollback to 3 blocked: orders-db is 7, v3 requires <7")
    assert again.rollout.history == held.rollout.history  # one line, however many ticks it stays blocked
    assert machine.abort(again.rollout, clock()).routing == Routing.single(3)  # an operator can end it
