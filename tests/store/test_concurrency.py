"""Reserved concurrency in the store, through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.store.conftest import Kit, code
from turnout.errors import FunctionNotFound, InvalidInput
from turnout.gateway.table import RoutingTable


def test_reserved_concurrency_is_set_read_cleared_and_seen_by_the_routing_table(kit: Kit) -> None:
    kit.deploy("thumbs", code(1))
    provisioning = kit.services.provisioning
    table = RoutingTable(kit.store)
    kit.services.changes.subscribe(table.refresh)
    table.ensure("thumbs")
    assert provisioning.reserved("thumbs") is None and table.reserved_concurrency("thumbs") is None
    revision = kit.services.functions.get("thumbs").revision_id

    kit.clock.advance(5)
    assert provisioning.reserve("thumbs", 7) == 7
    function = kit.services.functions.get("thumbs")
    assert function.reserved_concurrency == 7 and function.updated_at == kit.clock()
    assert function.revision_id == revision  # not a draft change: If-Match tokens stay valid
    assert table.reserved_concurrency("thumbs") == 7  # the change feed refreshed the table

    provisioning.reserve("thumbs", 0)
    assert provisioning.reserved("thumbs") == 0 and table.reserved_concurrency("thumbs") == 0
    provisioning.reserve("thumbs", None)
    assert provisioning.reserved("thumbs") is None and table.reserved_concurrency("thumbs") is None


def test_bad_reserved_concurrency_is_refused_and_changes_nothing(kit: Kit) -> None:
    kit.deploy("thumbs", code(1))
    provisioning = kit.services.provisioning
    provisioning.reserve("thumbs", 3)
    for bad in (-1, 10_001):
        with pytest.raises(InvalidInput):
            provisioning.reserve("thumbs", bad)
    assert provisioning.reserved("thumbs") == 3
    with pytest.raises(FunctionNotFound):
        provisioning.reserve("nope", 1)
