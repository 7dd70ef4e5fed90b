"""Schedule expressions (pure): parse ``rate(...)``, AWS ``cron(...)`` and five-field cron; find the next
tick after a time in a time zone; build the EventBridge scheduled event.

- ``rate(N minute|minutes|hour|hours|day|days)`` as on AWS, plus ``rate(N second|seconds)`` (a Turnout
  extension). Rate ticks are ``anchor + k * interval`` (the anchor is when the schedule was made), so they
  do not drift; time zones do not change them.
- ``cron(min hour day-of-month month day-of-week year)``, AWS's six fields: day-of-week 1-7 is SUN-SAT,
  exactly one of day-of-month/day-of-week is ``?``; ``L`` (last day of the month), ``nL`` (last weekday
  ``n`` of the month) and ``n#k`` (k-th weekday ``n``) are understood; ``W`` is not.
- A plain five-field ``min hour dom month dow`` (day-of-week 0-7, 0 and 7 SUN; when both day fields are
  restricted a day matching either fires, as in Vixie cron).
- Cron runs in the schedule's IANA time zone (default UTC). A local time that does not exist (the hour
  skipped when clocks go forward) fires at the same offset after the change (02:30 becomes 03:30); a
  local time that happens twice (clocks go back) fires once, at its first occurrence.
"""

from __future__ import annotations

import calendar
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from turnout.errors import InvalidSchedule

MISSED_POLICIES = ("fire-once", "skip")
_ENUMERATE = 1000  # ticks a claim counts one by one before it jumps ahead
MAX_YEARS = 30  # how far ahead a cron search looks before it decides the expression never fires again
_RATE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$", re.IGNORECASE)
_UNITS = {
    "second": 1,
    "seconds": 1,
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_AWS_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_UNIX_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        """The first tick ``anchor + k * seconds`` (k >= 0) strictly after ``after``."""
        if after < anchor:
            return anchor
        steps = int((after - anchor).total_seconds() // self.seconds) + 1
        tick = anchor + timedelta(seconds=steps * self.seconds)
        while tick <= after:  # float rounding
            tick += timedelta(seconds=self.seconds)
        return tick


@dataclass(frozen=True)
class DayRule:
    """Which days of a month match a day-of-month or day-of-week field."""

    any: bool
    days: frozenset[int] = frozenset()  # days of month, or weekdays (Python's: Monday 0)
    last: bool = False  # L in day-of-month
    last_weekdays: frozenset[int] = frozenset()  # nL in day-of-week
    nth: frozenset[tuple[int, int]] = frozenset()  # (weekday, k) from n#k

    def matches_dom(self, day: date) -> bool:
        last_day = calendar.monthrange(day.year, day.month)[1]
        return day.day in self.days or (self.last and day.day == last_day)

    def matches_dow(self, day: date) -> bool:
        weekday = day.weekday()
        if weekday in self.days:
            return True
        last_day = calendar.monthrange(day.year, day.month)[1]
        if weekday in self.last_weekdays and day.day + 7 > last_day:
            return True
        return (weekday, (day.day - 1) // 7 + 1) in self.nth


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    dom: DayRule
    months: frozenset[int]
    dow: DayRule
    years: frozenset[int] | None  # None: any year
    either_day: bool  # five-field cron with both day fields restricted: a day matching either fires

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.dom.any and self.dow.any:
            return True
        if self.dom.any:
            return self.dow.matches_dow(day)
        if self.dow.any:
            return self.dom.matches_dom(day)
        if self.either_day:
            return self.dom.matches_dom(day) or self.dow.matches_dow(day)
        return self.dom.matches_dom(day) and self.dow.matches_dow(day)

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first tick strictly after ``after`` (UTC), or None if there is none in MAX_YEARS."""
        local = after.astimezone(zone)
        day = local.date() - timedelta(days=1)  # a gap-shifted time of the day before may still be ahead
        end = local.date() + timedelta(days=366 * MAX_YEARS)
        while day <= end:
            if self.day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        tick = _resolve(datetime.combine(day, time(hour, minute)), zone)
                        if tick > after:
                            return tick
            day += timedelta(days=1)
        return None


def _resolve(naive: datetime, zone: ZoneInfo) -> datetime:
    """A local wall time as UTC: a skipped time keeps the offset before the change (so it lands the
    gap's length later); a repeated time is its first occurrence."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


@dataclass(frozen=True)
class ScheduleExpression:
    text: str
    rate: Rate | None = None
    cron: Cron | None = None

    def next_after(self, after: datetime, zone: ZoneInfo, anchor: datetime) -> datetime | None:
        """The first tick strictly after ``after``; rates count from ``anchor``."""
        if self.rate is not None:
            return self.rate.next_after(after, anchor)
        assert self.cron is not None
        return self.cron.next_after(after, zone)


def parse_expression(text: str) -> ScheduleExpression:
    """Read ``rate(5 minutes)``, ``cron(0 12 * * ? *)`` or ``0 12 * * *``; InvalidSchedule otherwise."""
    stripped = " ".join(text.split())
    if not stripped:
        raise _invalid(text, "the expression is empty")
    if stripped.lower().startswith("rate("):
        return ScheduleExpression(stripped, rate=_parse_rate(stripped))
    if stripped.lower().startswith("cron(") and stripped.endswith(")"):
        fields = stripped[5:-1].split()
        if len(fields) != 6:
            raise _invalid(
                text, f"cron(...) needs 6 fields (min hour day month weekday year), not {len(fields)}"
            )
        return ScheduleExpression(stripped, cron=_parse_aws_cron(text, fields))
    fields = stripped.split()
    if len(fields) != 5:
        raise _invalid(text, "give rate(N unit), cron(6 fields) or a plain 5-field cron expression")
    return ScheduleExpression(stripped, cron=_parse_unix_cron(text, fields))


def parse_zone(name: str | None) -> ZoneInfo:
    """An IANA time zone (``Europe/Paris``); None or "" is UTC."""
    if not name:
        return ZoneInfo("UTC")
    try:
        if ".." in name or name.startswith("/"):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Paris or UTC", timezone=name
        ) from exc


def check_missed(policy: str) -> str:
    if policy not in MISSED_POLICIES:
        raise InvalidSchedule(
            f"unknown missed-tick policy {policy!r}: give one of {', '.join(MISSED_POLICIES)}", missed=policy
        )
    return policy


def _invalid(text: str, why: str) -> InvalidSchedule:
    return InvalidSchedule(f"invalid schedule expression {text!r}: {why}", expression=text)


def _parse_rate(text: str) -> Rate:
    match = _RATE.match(text)
    if match is None:
        raise _invalid(text, "a rate is rate(N unit), e.g. rate(5 minutes)")
    value, unit = int(match.group(1)), match.group(2).lower()
    if unit not in _UNITS:
        raise _invalid(text, f"unknown unit {unit!r}: seconds, minutes, hours or days")
    if value < 1:
        raise _invalid(text, "the value must be 1 or more")
    if (value == 1) != (not unit.endswith("s")):
        raise _invalid(
            text, f"say rate({value} {unit.rstrip('s') if value == 1 else unit.rstrip('s') + 's'})"
        )
    if value * _UNITS[unit] > 366 * 86400 * 10:
        raise _invalid(text, "the interval is too long")
    return Rate(value * _UNITS[unit])


def _parse_aws_cron(text: str, fields: list[str]) -> Cron:
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise _invalid(text, "exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=tuple(sorted(_values(text, minute, 0, 59, {}))),
        hours=tuple(sorted(_values(text, hour, 0, 23, {}))),
        dom=_dom(text, dom),
        months=frozenset(_values(text, month, 1, 12, _MONTHS)),
        dow=_dow(text, dow, 1, 7, _AWS_DAYS, lambda n: (n - 2) % 7),
        years=None if year in ("*", "?") else frozenset(_values(text, year, 1970, 2199, {})),
        either_day=False,
    )


def _parse_unix_cron(text: str, fields: list[str]) -> Cron:
    minute, hour, dom, month, dow = fields
    dom_rule, dow_rule = _dom(text, dom), _dow(text, dow, 0, 7, _UNIX_DAYS, lambda n: (n - 1) % 7)
    return Cron(
        minutes=tuple(sorted(_values(text, minute, 0, 59, {}))),
        hours=tuple(sorted(_values(text, hour, 0, 23, {}))),
        dom=dom_rule,
        months=frozenset(_values(text, month, 1, 12, _MONTHS)),
        dow=dow_rule,
        years=None,
        either_day=not dom_rule.any and not dow_rule.any,
    )


def _dom(text: str, field: str) -> DayRule:
    if field in ("*", "?"):
        return DayRule(any=True)
    parts = field.split(",")
    last = "L" in (p.upper() for p in parts)
    rest = ",".join(p for p in parts if p.upper() != "L")
    days = _values(text, rest, 1, 31, {}) if rest else set()
    return DayRule(any=False, days=frozenset(days), last=last)


def _dow(
    text: str, field: str, low: int, high: int, names: dict[str, int], to_python: Callable[[int], int]
) -> DayRule:
    if field in ("*", "?"):
        return DayRule(any=True)
    days: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for part in field.split(","):
        upper = part.upper()
        if "#" in upper:
            day, _, k = upper.partition("#")
            if not k.isdigit() or not 1 <= int(k) <= 5:
                raise _invalid(text, f"{part!r}: the week in n#k is 1-5")
            nth.add((to_python(_number(text, day, low, high, names)), int(k)))
        elif upper.endswith("L") and len(upper) > 1:
            last.add(to_python(_number(text, upper[:-1], low, high, names)))
        else:
            days.update(to_python(n) for n in _values(text, part, low, high, names))
    return DayRule(any=False, days=frozenset(days), last_weekdays=frozenset(last), nth=frozenset(nth))


def _values(text: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The numbers a field names: ``*``, ``5``, ``1-5``, ``*/15``, ``10-50/20``, ``MON-FRI``, lists."""
    found: set[int] = set()
    for part in field.split(","):
        base, sep, step_text = part.partition("/")
        step = 1
        if sep:
            if not step_text.isdigit() or int(step_text) < 1:
                raise _invalid(text, f"{part!r}: the step after '/' must be a number of 1 or more")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, second = base.partition("-")
            start, end = _number(text, first, low, high, names), _number(text, second, low, high, names)
            if start > end:
                raise _invalid(text, f"{part!r}: a range goes from low to high")
        else:
            start = _number(text, base, low, high, names)
            end = high if sep else start
        found.update(range(start, end + 1, step))
    return found


def _number(text: str, value: str, low: int, high: int, names: dict[str, int]) -> int:
    upper = value.upper()
    if upper in names:
        return names[upper]
    if not value.isdigit() or not low <= int(value) <= high:
        raise _invalid(text, f"{value!r} is not a value from {low} to {high} here")
    return int(value)


def scheduled_event(
    schedule: str, tick: datetime, region: str, account_id: str, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The EventBridge scheduled event for one tick (``time`` is the tick's scheduled time)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": iso_z(tick),
        "region": region,
        "resources": [schedule_arn(schedule, region, account_id)],
        "detail": detail or {},
    }


def schedule_arn(schedule: str, region: str, account_id: str) -> str:
    return f"arn:aws:events:{region}:{account_id}:rule/{schedule}"


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Firing:
    """What a claim decided for one due schedule: the ticks to fire now (each its own invocation), and
    the catch-up for missed ones (policy ``fire-once``)."""

    ticks: tuple[datetime, ...]
    catch_up: datetime | None  # the latest missed tick, fired once for all of them
    missed: int
    first_missed: datetime | None
    next_fire_at: datetime | None


def plan_firing(
    expression: ScheduleExpression,
    zone: ZoneInfo,
    anchor: datetime,
    due: datetime,
    now: datetime,
    policy: str,
    grace: timedelta,
    max_ticks: int = 10,
) -> Firing:
    """Ticks from ``due`` (the stored next tick, <= now) up to ``now``: those late by at most ``grace``
    fire one by one (at most ``max_ticks``, older ones count as missed); older ones are missed and,
    with policy ``fire-once``, fire as one catch-up invocation (``skip``: not at all)."""
    cutoff = now - grace
    ticks: list[datetime] = []
    tick: datetime | None = due
    while tick is not None and tick <= now and len(ticks) < _ENUMERATE:
        ticks.append(tick)
        tick = expression.next_after(tick, zone, anchor)
    missed = [t for t in ticks if t < cutoff]
    missed_count = len(missed)
    if tick is not None and tick <= now:  # a long outage: jump over the rest of the missed ticks
        jumped = expression.next_after(cutoff - timedelta(microseconds=1), zone, anchor)
        if expression.rate is not None:
            step = timedelta(seconds=expression.rate.seconds)
            missed_count = -((due - cutoff) // step)  # the ticks before the cutoff
            missed.append(due + (missed_count - 1) * step)
        else:
            missed_count += 1  # at least
        ticks, tick = [], jumped
        while tick is not None and tick <= now:
            ticks.append(tick)
            tick = expression.next_after(tick, zone, anchor)
    on_time = [t for t in ticks if t >= cutoff]
    missed += on_time[:-max_ticks] if len(on_time) > max_ticks else []
    missed_count += max(0, len(on_time) - max_ticks)
    on_time = on_time[-max_ticks:]
    missed.sort()
    catch_up = missed[-1] if missed and policy == "fire-once" else None
    return Firing(
        ticks=tuple(on_time),
        catch_up=catch_up,
        missed=missed_count,
        first_missed=missed[0] if missed else None,
        next_fire_at=tick,
    )
