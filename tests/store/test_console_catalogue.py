"""The console's functions list stays current through the change feed: a new function appears, a moved
alias shows its new target, a deleted function disappears, and search pages through names."""

from __future__ import annotations

from tests.store.conftest import Kit
from turnout.console.catalogue import Catalogue


def _targets(catalogue: Catalogue, name: str) -> list[str]:
    rows, _ = catalogue.search(name, 1, 10)
    return [a["target"] for row in rows if row["name"] == name for a in row["aliases"]]


def test_the_list_follows_new_functions_moved_aliases_and_deletions(kit: Kit) -> None:
    catalogue = Catalogue(kit.services)
    kit.deploy("alpha")
    kit.publish("alpha")
    kit.alias("alpha", "prod", 1)
    assert _targets(catalogue, "alpha") == ["1"]
    kit.deploy("beta")
    assert [r["name"] for r in catalogue.search("", 1, 10)[0]] == ["alpha", "beta"]
    kit.deploy("alpha", {"app.py": "def handler(e, c):\n    return 2\n"})
    kit.publish("alpha")
    kit.alias("alpha", "prod", {"1": 90, "2": 10})
    assert _targets(catalogue, "alpha") == ["1 (90%), 2 (10%)"]
    assert catalogue.search("alpha", 1, 10)[0][0]["latest"] == 2
    kit.services.functions.delete("beta")
    assert [r["name"] for r in catalogue.search("", 1, 10)[0]] == ["alpha"]


def test_search_matches_part_of_a_name_in_any_case_page_by_page(kit: Kit) -> None:
    for name in ("pay-api", "pay-worker", "thumbs", "PAY-report"):
        kit.deploy(name)
    catalogue = Catalogue(kit.services)
    first, more = catalogue.search("pay", 1, 2)
    second, last = catalogue.search("pay", 2, 2)
    assert more and not last
    assert sorted(r["name"] for r in first + second) == ["PAY-report", "pay-api", "pay-worker"]
    assert catalogue.search("nothing", 1, 2) == ([], False)
