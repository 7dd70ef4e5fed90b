"""Async invocation configs in the store, through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.store.conftest import Kit, code
from turnout.domain.destination import EventConfig
from turnout.errors import (
    AliasNotFound,
    EventConfigNotFound,
    FunctionNotFound,
    InvalidInput,
    VersionNotFound,
)
from turnout.gateway.table import RoutingTable

FN = "orders"


@pytest.fixture
def kit_with_functions(kit: Kit) -> Kit:
    for name in (FN, "audit", "alerts"):
        kit.deploy(name, code(name))
        kit.publish(name)
    kit.alias(FN, "prod", 1)
    return kit


def test_configs_are_set_read_listed_replaced_and_deleted(kit_with_functions: Kit) -> None:
    kit = kit_with_functions
    configs = kit.services.event_configs
    table = RoutingTable(kit.store)
    kit.services.changes.subscribe(table.refresh)
    table.ensure(FN)

    saved = configs.put(FN, EventConfig("prod", on_success="audit", on_failure="alerts:1", max_retries=0))
    assert (saved.qualifier, saved.on_success, saved.on_failure, saved.max_retries) == (
        "prod",
        "audit",
        "alerts:1",
        0,
    )
    assert saved.updated_at == kit.clock()
    configs.put(FN, EventConfig("", max_age_s=120))  # "" is $LATEST
    assert [c.qualifier for c in configs.list(FN)] == ["$LATEST", "prod"]
    assert configs.get(FN, None).max_age_s == 120
    entry = table.get(FN)
    assert entry is not None and entry.event_configs["prod"].on_success == "audit"  # the table is fresh

    configs.put(FN, EventConfig("prod", on_failure="alerts"))  # replaces: unset fields fall back
    replaced = configs.get(FN, "prod")
    assert (replaced.on_success, replaced.on_failure, replaced.max_retries) == (None, "alerts", None)
    configs.delete(FN, "prod")
    with pytest.raises(EventConfigNotFound):
        configs.get(FN, "prod")
    with pytest.raises(EventConfigNotFound):
        configs.delete(FN, "prod")
    entry = table.get(FN)
    assert entry is not None and "prod" not in entry.event_configs


def test_bad_configs_are_refused_and_nothing_is_stored(kit_with_functions: Kit) -> None:
    configs = kit_with_functions.services.event_configs
    cases = [
        (EventConfig("staging"), AliasNotFound),
        (EventConfig("9"), VersionNotFound),
        (EventConfig("prod", on_success="nobody"), FunctionNotFound),
        (EventConfig("prod", on_failure=FN), InvalidInput),
        (EventConfig("prod", max_retries=5), InvalidInput),
    ]
    for config, error in cases:
        with pytest.raises(error):
            configs.put(FN, config)
    with pytest.raises(FunctionNotFound):
        configs.put("nope", EventConfig("prod"))
    assert configs.list(FN) == []


def test_a_qualifiers_config_goes_with_its_alias_version_or_function(kit_with_functions: Kit) -> None:
    kit = kit_with_functions
    configs = kit.services.event_configs
    kit.deploy(FN, code("two"))
    kit.publish(FN)
    configs.put(FN, EventConfig("prod", on_success="audit"))
    configs.put(FN, EventConfig("2", on_success="audit"))
    kit.services.aliases.delete(FN, "prod", actor="ops")
    assert [c.qualifier for c in configs.list(FN)] == ["2"]
    kit.services.versions.delete(FN, 2)
    assert configs.list(FN) == []
    configs.put(FN, EventConfig("$LATEST", on_failure="alerts"))
    kit.services.functions.delete(FN)
    kit.deploy(FN, code("again"))
    assert configs.list(FN) == []  # a new function of the same name starts without it
