"""Function tags and resource-policy statements in the store, through their services, on SQLite and
PostgreSQL: kept per function (and qualifier), replaced and removed, gone with their function."""

from __future__ import annotations

import pytest

from tests.store.conftest import Kit, code
from turnout.errors import (
    AliasNotFound,
    Conflict,
    FunctionNotFound,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)

FN = "orders"


@pytest.fixture
def kit_with_function(kit: Kit) -> Kit:
    kit.deploy(FN, code(1))
    kit.publish(FN)
    kit.alias(FN, "prod", 1)
    return kit


def test_tags_are_added_replaced_removed_and_limited(kit_with_function: Kit) -> None:
    tags = kit_with_function.services.tags
    assert tags.get(FN) == {}
    assert tags.tag(FN, {"team": "web", "env": "test"}) == {"team": "web", "env": "test"}
    assert tags.tag(FN, {"env": "prod"}) == {"team": "web", "env": "prod"}
    tags.untag(FN, ["team", "absent"])
    assert tags.get(FN) == {"env": "prod"}
    with pytest.raises(InvalidInput):
        tags.tag(FN, {f"k{i}": "v" for i in range(50)})  # 51 with "env"
    assert tags.get(FN) == {"env": "prod"}
    with pytest.raises(FunctionNotFound):
        tags.tag("nope", {"a": "b"})


def test_statements_are_kept_per_qualifier_in_order(kit_with_function: Kit) -> None:
    kit = kit_with_function
    policies = kit.services.policies
    policies.add(FN, None, "b", {"Sid": "b"})
    kit.clock.advance()
    policies.add(FN, None, "a", {"Sid": "a"})
    policies.add(FN, "prod", "url", {"Sid": "url"})
    found = policies.get(FN, None)
    assert ([s["Sid"] for s in found.statements], found.revision_id) == (
        ["b", "a"],
        kit.services.functions.get(FN).revision_id,
    )
    alias_policy = policies.get(FN, "prod")
    assert alias_policy.statements == [{"Sid": "url"}]
    assert alias_policy.revision_id == kit.services.aliases.get(FN, "prod").revision_id
    with pytest.raises(Conflict):
        policies.add(FN, None, "a", {"Sid": "again"})
    with pytest.raises(PreconditionFailed):
        policies.remove(FN, None, "a", revision_id="stale")
    with pytest.raises(AliasNotFound):
        policies.add(FN, "nope", "x", {})
    policies.remove(FN, None, "b")
    policies.remove(FN, None, "a")
    with pytest.raises(NotFound):
        policies.get(FN, None)
    with pytest.raises(NotFound):
        policies.remove(FN, None, "a")


def test_tags_and_statements_go_with_their_function(kit_with_function: Kit) -> None:
    kit = kit_with_function
    kit.services.tags.tag(FN, {"team": "web"})
    kit.services.policies.add(FN, "prod", "url", {"Sid": "url"})
    kit.services.functions.delete(FN)
    kit.deploy(FN, code(2))
    kit.publish(FN)
    kit.alias(FN, "prod", 1)
    assert kit.services.tags.get(FN) == {}
    with pytest.raises(NotFound):
        kit.services.policies.get(FN, "prod")


def test_an_alias_or_version_takes_its_statements_with_it(kit_with_function: Kit) -> None:
    kit = kit_with_function
    kit.deploy(FN, code(2))
    kit.publish(FN)
    kit.services.policies.add(FN, "prod", "url", {"Sid": "url"})
    kit.services.policies.add(FN, "2", "v2", {"Sid": "v2"})
    kit.services.policies.add(FN, None, "fn", {"Sid": "fn"})
    kit.services.aliases.delete(FN, "prod", "test")
    kit.services.versions.delete(FN, 2)
    kit.alias(FN, "prod", 1)
    kit.deploy(FN, code(3))
    kit.publish(FN)  # version 3: numbers are never reused, so only the alias name comes back
    with pytest.raises(NotFound):
        kit.services.policies.get(FN, "prod")
    assert kit.services.policies.get(FN, None).statements == [{"Sid": "fn"}]
