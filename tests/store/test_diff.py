"""Diffs between versions and the draft: code, configuration, environment (secrets masked), dependencies."""

from __future__ import annotations

import pytest

from tests.store.conftest import Kit
from turnout.domain.diff import ValueChange
from turnout.errors import InvalidInput, VersionNotFound

FN = "thumbs"

BEFORE = {
    "app.py": "def handler(event, context):\n    return 1\n",
    "util.py": "HELPER = True\n",
    "old.py": "gone = 1\n",
    "requirements.txt": "requests==2.31.0\nflask>=2\n",
}
AFTER = {
    "app.py": "def handler(event, context):\n    return 2\n",
    "util.py": "HELPER = True\n",
    "new.py": "fresh = 1\n",
    "requirements.txt": "requests==2.32.3\nattrs>=23\n",
}
ENV_BEFORE = {"GREETING": "hi", "DB_PASSWORD": "hunter2", "GONE": "x"}
ENV_AFTER = {"GREETING": "hello", "DB_PASSWORD": "correct-horse", "STRIPE_API_KEY": "sk_live_123"}


@pytest.fixture
def two(kit: Kit) -> Kit:
    kit.deploy(FN, BEFORE, environment=ENV_BEFORE, timeout=30)
    kit.publish(FN)
    kit.deploy(FN, AFTER, environment=ENV_AFTER, timeout=60, memory=512)
    kit.publish(FN)
    return kit


def test_diff_between_two_versions_shows_code_config_environment_and_dependencies(two: Kit) -> None:
    diff = two.services.diff.diff(FN, "1", "2")
    assert diff.labels == ("1", "2")
    assert not diff.empty

    code = {c.path: c for c in diff.code}
    assert {p: c.status for p, c in code.items()} == {
        "app.py": "modified",
        "new.py": "added",
        "old.py": "removed",
        "requirements.txt": "modified",
    }
    assert "--- 1/app.py\n+++ 2/app.py\n" in code["app.py"].diff
    assert "-    return 1\n" in code["app.py"].diff and "+    return 2\n" in code["app.py"].diff
    assert code["new.py"].diff.startswith("--- /dev/null\n+++ 2/new.py\n")
    assert "+fresh = 1\n" in code["new.py"].diff
    assert "-gone = 1\n" in code["old.py"].diff and "+++ /dev/null" in code["old.py"].diff

    assert set(diff.config) == {ValueChange("timeout", 30, 60), ValueChange("memory", 256, 512)}

    env = {c.key: c for c in diff.environment}
    assert set(env) == {"GREETING", "DB_PASSWORD", "STRIPE_API_KEY", "GONE"}
    assert (env["GREETING"].before, env["GREETING"].after) == ("hi", "hello")
    assert (env["DB_PASSWORD"].before, env["DB_PASSWORD"].after) == ("****", "**** (changed)")
    assert (env["STRIPE_API_KEY"].before, env["STRIPE_API_KEY"].after) == (None, "****")
    assert (env["GONE"].before, env["GONE"].after) == ("x", None)
    for secret in ("hunter2", "correct-horse", "sk_live_123"):
        assert secret not in repr(diff)

    deps = {c.key: (c.before, c.after) for c in diff.dependencies}
    assert deps == {
        "requests": ("requests==2.31.0", "requests==2.32.3"),
        "flask": ("flask>=2", None),
        "attrs": (None, "attrs>=23"),
    }


def test_diff_between_a_version_and_latest_sees_the_unpublished_draft(two: Kit) -> None:
    assert two.services.diff.diff(FN, "2", "$LATEST").empty
    two.deploy(
        FN,
        {**AFTER, "app.py": "def handler(event, context):\n    return 3\n"},
        environment={**ENV_AFTER, "GREETING": "hey"},
    )
    diff = two.services.diff.diff(FN, "2", "$LATEST")
    assert diff.labels == ("2", "$LATEST")
    assert [(c.path, c.status) for c in diff.code] == [("app.py", "modified")]
    assert "+++ $LATEST/app.py" in diff.code[0].diff and "+    return 3\n" in diff.code[0].diff
    assert diff.environment == (ValueChange("GREETING", "hello", "hey"),)
    assert diff.config == () and diff.dependencies == ()


def test_diff_through_an_alias_uses_its_version(two: Kit) -> None:
    two.alias(FN, "prod", 1)
    assert two.services.diff.diff(FN, "prod", "1").empty
    assert two.services.diff.diff(FN, "prod", "2").code == two.services.diff.diff(FN, "1", "2").code
    two.alias(FN, "canary", {"1": 50, "2": 50})
    with pytest.raises(InvalidInput):
        two.services.diff.diff(FN, "canary", "2")


def test_diff_with_a_missing_version_is_refused(two: Kit) -> None:
    with pytest.raises(VersionNotFound):
        two.services.diff.diff(FN, "1", "7")
