"""Schedules in the store, through the service: add (the qualifier must exist), list, enable/disable,
delete; claiming a due tick with a compare-and-set (two claimers: one wins); missed-tick policies; the
versions schedules pin. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.conftest import Kit, code
from turnout.domain.schedule import Firing
from turnout.errors import (
    AliasNotFound,
    AlreadyExists,
    FunctionNotFound,
    InvalidName,
    InvalidSchedule,
    ScheduleNotFound,
    VersionNotFound,
)
from turnout.services.schedules import NewSchedule, ScheduleService

FN = "report"
GRACE = timedelta(seconds=1.5)
START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # the FakeClock's start


@pytest.fixture
def schedules(kit: Kit) -> ScheduleService:
    """FN with versions 1 and 2 and alias ``prod`` on 1."""
    for n in (1, 2):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.alias(FN, "prod", 1)
    return kit.services.schedules


def every_second(name: str = "tick", qualifier: str | None = "prod", **kwargs: object) -> NewSchedule:
    return NewSchedule(name, "rate(1 second)", FN, qualifier, **kwargs)  # type: ignore[arg-type]


def test_a_schedule_is_added_read_listed_and_deleted(schedules: ScheduleService) -> None:
    saved = schedules.add(
        NewSchedule("noon", "cron(0 12 * * ? *)", FN, "prod", timezone="Europe/Paris", input={"a": 1})
    )
    assert (saved.function, saved.qualifier, saved.timezone, saved.input) == (
        FN,
        "prod",
        "Europe/Paris",
        '{"a":1}',
    )
    assert saved.enabled and saved.missed == "fire-once"
    assert saved.next_fire_at == datetime(2024, 1, 2, 11, 0, tzinfo=UTC)  # noon in Paris (UTC+1)
    schedules.add(every_second("b-every-second", "2", missed="skip"))
    schedules.add(NewSchedule("latest", "*/5 * * * *", FN))
    assert [s.name for s in schedules.list()] == ["b-every-second", "latest", "noon"]
    assert [s.name for s in schedules.list(FN)] == ["b-every-second", "latest", "noon"]
    assert schedules.get("latest").qualifier == "$LATEST"
    assert schedules.get("b-every-second").next_fire_at == START + timedelta(seconds=1)
    schedules.delete("noon")
    with pytest.raises(ScheduleNotFound):
        schedules.get("noon")
    with pytest.raises(ScheduleNotFound):
        schedules.delete("noon")


def test_bad_schedules_are_refused_with_stable_codes(schedules: ScheduleService) -> None:
    schedules.add(every_second())
    cases: list[tuple[NewSchedule, type[Exception]]] = [
        (every_second(), AlreadyExists),
        (NewSchedule("x", "rate(1 second)", "nope", "prod"), FunctionNotFound),
        (every_second("x", "staging"), AliasNotFound),
        (every_second("x", "9"), VersionNotFound),
        (NewSchedule("x", "cron(0 12 * * * *)", FN, "prod"), InvalidSchedule),
        (every_second("x", timezone="Mars/Olympus"), InvalidSchedule),
        (every_second("x", missed="sometimes"), InvalidSchedule),
        (every_second("bad name!"), InvalidName),
    ]
    for new, error in cases:
        with pytest.raises(error):
            schedules.add(new)
    assert [s.name for s in schedules.list()] == ["tick"]


def test_two_claimers_of_one_tick_one_wins(schedules: ScheduleService, kit: Kit) -> None:
    schedules.add(every_second())
    kit.clock.advance(1.2)
    now = kit.clock()
    (due,) = schedules.due(now)
    barrier = threading.Barrier(2)
    results: list[Firing | None] = []

    def claim() -> None:
        barrier.wait()
        results.append(schedules.claim(due, now, GRACE))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [r for r in results if r is not None]
    assert len(results) == 2 and len(winners) == 1
    assert winners[0].ticks == (START + timedelta(seconds=1),)
    assert schedules.get("tick").next_fire_at == START + timedelta(seconds=2)
    assert schedules.claim(due, now, GRACE) is None  # a stale read never claims again
    assert schedules.due(now) == []


def test_missed_ticks_follow_the_policy(schedules: ScheduleService, kit: Kit) -> None:
    schedules.add(every_second("once"))
    schedules.add(every_second("skip", missed="skip"))
    kit.clock.advance(10.2)  # the server was down: ticks 1…10 are due, 1…8 older than the grace
    now = kit.clock()
    firings = {s.name: schedules.claim(s, now, GRACE) for s in schedules.due(now)}
    once, skip = firings["once"], firings["skip"]
    assert once is not None and skip is not None
    on_time = (START + timedelta(seconds=9), START + timedelta(seconds=10))
    assert once.ticks == skip.ticks == on_time
    assert (once.catch_up, once.missed) == (START + timedelta(seconds=8), 8)
    assert (skip.catch_up, skip.missed) == (None, 8)
    assert schedules.get("once").next_fire_at == START + timedelta(seconds=11)


def test_disabled_schedules_do_not_fire_and_enabling_skips_the_ticks_in_between(
    schedules: ScheduleService, kit: Kit
) -> None:
    schedules.add(every_second(enabled=False))
    assert schedules.get("tick").next_fire_at is None
    kit.clock.advance(5)
    assert schedules.due(kit.clock()) == []
    enabled = schedules.set_enabled("tick", True)
    assert enabled.enabled and enabled.next_fire_at == START + timedelta(seconds=6)
    (due,) = schedules.due(kit.clock() + timedelta(seconds=1))
    schedules.set_enabled("tick", False)
    assert schedules.claim(due, kit.clock() + timedelta(seconds=1), GRACE) is None  # disabled meanwhile
    with pytest.raises(ScheduleNotFound):
        schedules.set_enabled("nope", True)


def test_results_are_recorded(schedules: ScheduleService) -> None:
    schedules.add(every_second())
    schedules.record_result("tick", {"status": "ok", "request_id": "r-1"})
    assert schedules.get("tick").last_result == {"status": "ok", "request_id": "r-1"}


def test_schedules_pinned_to_a_version_are_its_references(schedules: ScheduleService, kit: Kit) -> None:
    schedules.add(every_second("on-prod"))
    schedules.add(every_second("pinned-b", "2"))
    schedules.add(every_second("pinned-a", "2"))
    schedules.add(NewSchedule("latest", "rate(1 minute)", FN))
    function = kit.services.functions.get(FN)
    with kit.store.read() as tx:
        assert tx.schedules.references(function.id) == {2: ["schedule pinned-a", "schedule pinned-b"]}


def test_deleting_the_function_deletes_its_schedules(schedules: ScheduleService, kit: Kit) -> None:
    schedules.add(every_second())
    kit.services.functions.delete(FN)
    assert schedules.list() == []
