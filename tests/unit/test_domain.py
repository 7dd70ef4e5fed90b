"""Pure rules: names, configuration, weights, rollback targets, retention, secrets, diffs."""

from __future__ import annotations

import doctest
import importlib
from datetime import UTC, datetime

import pytest

from turnout.domain.alias import AliasAction, AliasChange, rollback_target
from turnout.domain.config import FunctionConfig, fingerprint
from turnout.domain.diff import diff_dependencies, diff_environment, diff_files
from turnout.domain.names import check_alias_name, check_function_name, parse_qualifier
from turnout.domain.retention import plan_retention
from turnout.domain.routing import Routing, parse_target, percent_to_bp, routing_from_labels
from turnout.domain.secrets import MASK
from turnout.errors import (
    InvalidAliasTarget,
    InvalidInput,
    InvalidName,
    InvalidVersionNumber,
    InvalidWeights,
    NothingToRollBack,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "module",
    ["names", "config", "routing", "alias", "retention", "secrets", "diff"],
)
def test_worked_examples_in_docstrings_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"turnout.domain.{module}"))
    assert result.failed == 0


@pytest.mark.parametrize("name", ["a", "thumb-nails_2", "x" * 64])
def test_valid_function_names(name: str) -> None:
    assert check_function_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "dot.name", "ünïcode", "a:b"])
def test_invalid_function_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        check_function_name(name)


def test_all_digit_alias_names_are_refused_because_they_read_as_versions() -> None:
    with pytest.raises(InvalidName, match="version number"):
        check_alias_name("42")
    assert check_alias_name("v42") == "v42"


def test_qualifiers_read_as_latest_version_or_alias() -> None:
    assert parse_qualifier(None).is_latest and parse_qualifier("$LATEST").is_latest
    assert parse_qualifier("12").version == 12
    assert parse_qualifier("prod").alias == "prod"
    for wrong in ("0", "-1", "²", "18446744073709551616"):
        with pytest.raises(InvalidVersionNumber):
            parse_qualifier(wrong)


@pytest.mark.parametrize(
    "changes",
    [
        {"timeout": 0},
        {"timeout": 901},
        {"memory": 127},
        {"memory": 10241},
        {"handler": "nodot"},
        {"environment": {"1BAD": "x"}},
        {"environment": {"AWS_LAMBDA_FUNCTION_NAME": "x"}},
        {"environment": {"BIG": "x" * 5000}},
        {"timeout": True},
    ],
)
def test_configuration_outside_its_bounds_is_refused(changes: dict) -> None:
    with pytest.raises(InvalidInput):
        FunctionConfig(handler="app.handler").with_changes(**changes)


def test_every_configuration_field_changes_the_fingerprint() -> None:
    base = FunctionConfig(handler="app.handler", environment={"A": "1"})
    reference = fingerprint("sha", base, ("attrs==23.2.0",))
    variants = [
        fingerprint("other-sha", base, ("attrs==23.2.0",)),
        fingerprint("sha", base.with_changes(handler="app.other"), ("attrs==23.2.0",)),
        fingerprint("sha", base.with_changes(environment={"A": "2"}), ("attrs==23.2.0",)),
        fingerprint("sha", base.with_changes(timeout=31), ("attrs==23.2.0",)),
        fingerprint("sha", base.with_changes(memory=512), ("attrs==23.2.0",)),
        fingerprint("sha", base, ("attrs==24.1.0",)),
    ]
    assert reference not in variants and len(set(variants)) == len(variants)
    same = FunctionConfig(handler="app.handler", environment={"A": "1"})
    assert fingerprint("sha", same, ("attrs==23.2.0",)) == reference


def test_weights_are_basis_points_that_must_sum_to_exactly_100_percent() -> None:
    routing = routing_from_labels({"1": "33.33", "2": "33.33", "3": "33.34"})
    assert [r.weight_bp for r in routing.routes] == [3333, 3333, 3334]
    with pytest.raises(InvalidWeights, match="99.99%"):
        routing_from_labels({"1": "33.33", "2": "33.33", "3": "33.33"})
    with pytest.raises(InvalidWeights, match="two decimals"):
        percent_to_bp("10.001")
    with pytest.raises(InvalidWeights):
        routing_from_labels({"1": 100, "2": 0})


def test_splits_cannot_include_latest_and_targets_cannot_be_aliases() -> None:
    assert Routing.single(None).describe() == "$LATEST"
    with pytest.raises(InvalidAliasTarget, match=r"\$LATEST"):
        routing_from_labels({"$LATEST": 50, "2": 50})
    with pytest.raises(InvalidAliasTarget, match="another alias"):
        parse_target("staging")


def _move(
    before: Routing | None, after: Routing | None, action: AliasAction = AliasAction.UPDATE
) -> AliasChange:
    return AliasChange("prod", action, before, after, "admin", "", NOW)


def test_rollback_returns_to_the_target_before_the_latest_move_and_toggles() -> None:
    one, two, three = Routing.single(1), Routing.single(2), Routing.single(3)
    history = [_move(two, three), _move(one, two), _move(None, one, AliasAction.CREATE)]
    assert rollback_target(three, history) == two
    after_rollback = [_move(three, two, AliasAction.ROLLBACK), *history]
    assert rollback_target(two, after_rollback) == three


def test_rollback_skips_settings_only_changes_and_fails_without_history() -> None:
    one, two = Routing.single(1), Routing.single(2)
    history = [_move(two, two, AliasAction.SETTINGS), _move(one, two)]
    assert rollback_target(two, history) == one
    with pytest.raises(NothingToRollBack):
        rollback_target(one, [_move(None, one, AliasAction.CREATE)])


def test_retention_keeps_the_newest_and_every_referenced_version() -> None:
    plan = plan_retention(range(1, 11), keep=3, references={2: ["prod"], 9: ["staging"]})
    assert plan.delete == (1, 3, 4, 5, 6, 7)
    assert plan.keep == (2, 8, 9, 10)
    assert plan.pinned == {2: ("prod",), 9: ("staging",)}


def test_environment_diff_masks_secret_values_but_shows_that_they_changed() -> None:
    changes = diff_environment({"DB_PASSWORD": "old", "MODE": "a"}, {"DB_PASSWORD": "new", "MODE": "b"})
    by_key = {c.key: c for c in changes}
    assert by_key["MODE"].before == "a" and by_key["MODE"].after == "b"
    assert "old" not in str(by_key["DB_PASSWORD"]) and "new" not in str(by_key["DB_PASSWORD"])
    assert by_key["DB_PASSWORD"].before == MASK


def test_file_diff_reads_only_changed_files_and_gives_unified_diffs() -> None:
    reads: list[str] = []

    def reader(contents: dict[str, bytes]):  # type: ignore[no-untyped-def]
        def read(path: str) -> bytes:
            reads.append(path)
            return contents[path]

        return read

    old = {"same.py": b"x\n", "app.py": b"a = 1\n", "gone.py": b"bye\n"}
    new = {"same.py": b"x\n", "app.py": b"a = 2\n", "new.bin": b"\0\1"}
    changes = diff_files(
        {k: str(hash(v)) for k, v in old.items()},
        {k: str(hash(v)) for k, v in new.items()},
        reader(old),
        reader(new),
        ("1", "2"),
    )
    by_path = {c.path: c for c in changes}
    assert "same.py" not in reads and "same.py" not in by_path
    assert by_path["app.py"].status == "modified" and "-a = 1" in by_path["app.py"].diff
    assert "+a = 2" in by_path["app.py"].diff
    assert by_path["gone.py"].status == "removed" and by_path["new.bin"].binary


def test_dependency_diff_compares_by_normalised_project_name() -> None:
    changes = diff_dependencies(["Requests==2.31.0", "attrs"], ["requests==2.32.3", "rich>=13"])
    assert [(c.key, c.before, c.after) for c in changes] == [
        ("attrs", "attrs", None),
        ("requests", "Requests==2.31.0", "requests==2.32.3"),
        ("rich", None, "rich>=13"),
    ]
