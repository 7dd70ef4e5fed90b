"""Schedule expressions: parsing, the next tick (time zones, DST), missed ticks, the scheduled event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from turnout.domain.schedule import (
    parse_expression,
    parse_zone,
    plan_firing,
    scheduled_event,
)
from turnout.errors import InvalidSchedule

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def ticks(expression: str, after: datetime, count: int, zone: ZoneInfo = UTC_ZONE) -> list[datetime]:
    parsed, found = parse_expression(expression), []
    for _ in range(count):
        tick = parsed.next_after(after, zone, ANCHOR)
        assert tick is not None
        found.append(tick)
        after = tick
    return found


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 12 * * ? *)", at(2024, 1, 1, 12), [at(2024, 1, 2, 12), at(2024, 1, 3, 12)]),
        ("cron(0 12 * * ? *)", at(2024, 1, 1, 11, 59, 59), [at(2024, 1, 1, 12), at(2024, 1, 2, 12)]),
        ("cron(0/15 * * * ? *)", at(2024, 1, 1, 0, 7), [at(2024, 1, 1, 0, 15), at(2024, 1, 1, 0, 30)]),
        ("cron(0 18 ? * MON-FRI *)", at(2024, 1, 5, 19), [at(2024, 1, 8, 18), at(2024, 1, 9, 18)]),
        ("cron(0 8 1 * ? *)", at(2024, 1, 1, 9), [at(2024, 2, 1, 8), at(2024, 3, 1, 8)]),
        ("cron(0 10 L * ? *)", at(2024, 2, 1), [at(2024, 2, 29, 10), at(2024, 3, 31, 10)]),
        ("cron(0 10 ? * 6L *)", at(2024, 2, 1), [at(2024, 2, 23, 10), at(2024, 3, 29, 10)]),
        ("cron(0 10 ? * 6#3 *)", at(2024, 1, 1), [at(2024, 1, 19, 10), at(2024, 2, 16, 10)]),
        ("cron(0 0 1 JAN ? 2025-2026)", at(2024, 6, 1), [at(2025, 1, 1), at(2026, 1, 1)]),
        ("cron(30 9 ? * 1 *)", at(2024, 1, 1), [at(2024, 1, 7, 9, 30), at(2024, 1, 14, 9, 30)]),  # 1 = SUN
        ("*/20 * * * *", at(2024, 1, 1, 0, 0), [at(2024, 1, 1, 0, 20), at(2024, 1, 1, 0, 40)]),
        ("0 9 * * 0", at(2024, 1, 1), [at(2024, 1, 7, 9), at(2024, 1, 14, 9)]),  # 0 = SUN in plain cron
        ("0 9 * * 7", at(2024, 1, 1), [at(2024, 1, 7, 9), at(2024, 1, 14, 9)]),  # … and so is 7
        ("0 0 13 * 5", at(2024, 9, 1), [at(2024, 9, 6), at(2024, 9, 13)]),  # either day field (Vixie)
        ("rate(5 minutes)", at(2024, 1, 1, 0, 7), [at(2024, 1, 1, 0, 10), at(2024, 1, 1, 0, 15)]),
        ("rate(1 second)", at(2024, 1, 1, 0, 0, 2), [at(2024, 1, 1, 0, 0, 3), at(2024, 1, 1, 0, 0, 4)]),
        ("rate(1 day)", at(2023, 12, 1), [at(2024, 1, 1), at(2024, 1, 2)]),  # the anchor is the first tick
    ],
)
def test_next_ticks(expression: str, after: datetime, expected: list[datetime]) -> None:
    assert ticks(expression, after, len(expected)) == expected


def test_a_year_field_that_is_over_has_no_next_tick() -> None:
    assert parse_expression("cron(0 0 1 1 ? 2020)").next_after(at(2024, 1, 1), UTC_ZONE, ANCHOR) is None


def test_cron_reads_its_fields_in_the_time_zone() -> None:
    # 12:00 in New York is 17:00 UTC in winter and 16:00 UTC in summer
    assert ticks("cron(0 12 * * ? *)", at(2024, 1, 1), 1, NEW_YORK) == [at(2024, 1, 1, 17)]
    assert ticks("cron(0 12 * * ? *)", at(2024, 7, 1), 1, NEW_YORK) == [at(2024, 7, 1, 16)]
    tokyo = ZoneInfo("Asia/Tokyo")  # the day boundary is local too
    assert ticks("0 0 * * *", at(2024, 1, 1, 10), 1, tokyo) == [at(2024, 1, 1, 15)]


def test_a_time_skipped_by_dst_fires_once_shifted_by_the_gap() -> None:
    # 2024-03-10: New York goes from 02:00 EST to 03:00 EDT; 02:30 does not exist that day
    got = ticks("30 2 * * *", at(2024, 3, 9, 12), 3, NEW_YORK)
    assert got == [at(2024, 3, 10, 7, 30), at(2024, 3, 11, 6, 30), at(2024, 3, 12, 6, 30)]
    hourly = ticks("0 * * * *", at(2024, 3, 10, 5, 30), 4, NEW_YORK)  # 00:30 EST
    assert hourly == [at(2024, 3, 10, 6), at(2024, 3, 10, 7), at(2024, 3, 10, 8), at(2024, 3, 10, 9)]
    assert len(set(hourly)) == 4


def test_a_time_repeated_by_dst_fires_once_at_its_first_occurrence() -> None:
    # 2024-11-03: 01:00-02:00 happens twice in New York (EDT then EST)
    got = ticks("30 1 * * *", at(2024, 11, 2, 12), 2, NEW_YORK)
    assert got == [at(2024, 11, 3, 5, 30), at(2024, 11, 4, 6, 30)]
    hourly = ticks("0 * * * *", at(2024, 11, 3, 4, 30), 3, NEW_YORK)  # 00:30 EDT
    assert hourly == [at(2024, 11, 3, 5), at(2024, 11, 3, 7), at(2024, 11, 3, 8)]  # 01:00 EDT, 02:00 EST


def test_rates_do_not_depend_on_the_time_zone() -> None:
    rate = parse_expression("rate(1 hour)")
    summer = at(2024, 3, 10, 6, 30)
    assert rate.next_after(summer, NEW_YORK, ANCHOR) == rate.next_after(summer, UTC_ZONE, ANCHOR)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "rate(0 minutes)",
        "rate(5 minute)",
        "rate(1 minutes)",
        "rate(5 fortnights)",
        "rate(five minutes)",
        "rate(5)",
        "cron(0 12 * * * *)",  # AWS: one of the day fields must be ?
        "cron(0 12 ? * ? *)",
        "cron(0 12 * *)",
        "cron(0 12 ? * 8 *)",
        "cron(0 12 ? * MON#6 *)",
        "cron(0 12 1 * ? 1969)",
        "61 * * * *",
        "* 24 * * *",
        "0 0 0 * *",
        "0 0 * 13 *",
        "*/0 * * * *",
        "5-1 * * * *",
        "0 12 * * * *",
        "every day",
    ],
)
def test_invalid_expressions_are_refused_with_their_code(expression: str) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        parse_expression(expression)
    assert raised.value.code == "InvalidScheduleExpression"
    assert raised.value.status == 400


def test_time_zones() -> None:
    assert parse_zone(None) == UTC_ZONE
    assert parse_zone("Europe/Paris") == ZoneInfo("Europe/Paris")
    for bad in ("Mars/Olympus", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(InvalidSchedule):
            parse_zone(bad)


SECOND = parse_expression("rate(1 second)")
GRACE = timedelta(seconds=1.5)


def test_ticks_within_grace_fire_one_by_one() -> None:
    firing = plan_firing(
        SECOND, UTC_ZONE, ANCHOR, at(2024, 1, 1, 0, 0, 5), at(2024, 1, 1, 0, 0, 6, 200), "skip", GRACE
    )
    assert firing.ticks == (at(2024, 1, 1, 0, 0, 5), at(2024, 1, 1, 0, 0, 6))
    assert (firing.missed, firing.catch_up, firing.next_fire_at) == (0, None, at(2024, 1, 1, 0, 0, 7))


def test_missed_ticks_fire_once_or_are_skipped() -> None:
    due, now = at(2024, 1, 1, 0, 0, 1), at(2024, 1, 1, 0, 0, 10, 200000)
    once = plan_firing(SECOND, UTC_ZONE, ANCHOR, due, now, "fire-once", GRACE)
    assert once.ticks == (at(2024, 1, 1, 0, 0, 9), at(2024, 1, 1, 0, 0, 10))
    assert once.catch_up == at(2024, 1, 1, 0, 0, 8)
    assert (once.missed, once.first_missed) == (8, due)
    assert once.next_fire_at == at(2024, 1, 1, 0, 0, 11)
    skip = plan_firing(SECOND, UTC_ZONE, ANCHOR, due, now, "skip", GRACE)
    assert (skip.ticks, skip.catch_up, skip.missed) == (once.ticks, None, 8)


def test_a_long_outage_is_counted_without_walking_every_tick() -> None:
    due, now = at(2024, 1, 1, 0, 0, 1), at(2024, 1, 2, 3, 46, 40, 200000)  # 100000 s later
    firing = plan_firing(SECOND, UTC_ZONE, ANCHOR, due, now, "fire-once", GRACE)
    assert firing.missed == 99998
    assert firing.catch_up == at(2024, 1, 2, 3, 46, 38)
    assert firing.ticks == (at(2024, 1, 2, 3, 46, 39), at(2024, 1, 2, 3, 46, 40))
    assert firing.next_fire_at == at(2024, 1, 2, 3, 46, 41)


def test_the_scheduled_event_has_the_eventbridge_shape() -> None:
    event = scheduled_event("nightly", at(2024, 5, 1, 3), "eu-west-1", "123456789012")
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2024-05-01T03:00:00Z"
    assert event["resources"] == ["arn:aws:events:eu-west-1:123456789012:rule/nightly"]
    assert (event["version"], event["detail"], event["account"]) == ("0", {}, "123456789012")
    assert event["id"] != scheduled_event("nightly", at(2024, 5, 1, 3), "eu-west-1", "1")["id"]
