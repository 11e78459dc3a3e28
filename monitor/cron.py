"""Five-field cron expressions with standard semantics, checked field by field, and the
APScheduler 3 trigger that fires on them.

Standard cron and APScheduler 3 disagree on the weekday field: cron counts 0 (and 7) as
Sunday and 1-5 as Monday to Friday, APScheduler counts 0 as Monday. So the expression is
parsed here into sets of values and handed to APScheduler as explicit lists (weekdays by
name), never as the text the user wrote. When both the day of month and the weekday are
restricted, cron fires on either (``0 7 1 * mon``: the 1st and every Monday); the trigger
is then the union of two.

Pure: the time to start from is always given, never read from a clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: Weekday names in cron's numbering: sun = 0 (and 7), mon = 1 ... sat = 6.
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    #: The value of the first name (jan = 1, sun = 0).
    first: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("weekday", 0, 7, WEEKDAYS, 0),
)
_WEEKDAY = _FIELDS[4]


class CronError(ValueError):
    """A cron expression is not valid; the message says which field and why."""


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the values each field allows (weekday 0 = Sunday, 0-6)."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    #: The day-of-month and weekday fields did not start with `*`: cron fires on either.
    day_restricted: bool
    weekday_restricted: bool


def _value(text: str, field: _Field, expression: str) -> int:
    word = text.lower()
    if field.names and word in field.names:
        return field.names.index(word) + field.first
    if not text.isdigit():
        known = f" or a name ({field.names[0]}-{field.names[-1]})" if field.names else ""
        raise CronError(
            f"{field.name} {text!r} is not a number{known} in {expression!r}"
            if text
            else f"{field.name} has an empty value in {expression!r}"
        )
    value = int(text)
    if not field.low <= value <= field.high:
        raise CronError(
            f"{field.name} {value} is out of range {field.low}-{field.high} in {expression!r}"
        )
    return value


def _element(text: str, field: _Field, expression: str) -> set[int]:
    """One comma-separated element: *, N, N-M, with an optional /STEP."""
    base, slash, step_text = text.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit():
            raise CronError(f"{field.name} step {step_text!r} is not a number in {expression!r}")
        step = int(step_text)
        if step == 0:
            raise CronError(f"{field.name} step 0 never advances in {expression!r}")
    if base == "*":
        start, end = field.low, field.high
    else:
        first, dash, last = base.partition("-")
        start = _value(first, field, expression)
        if dash:
            end = _value(last, field, expression)
            if field is _WEEKDAY and end == 0:
                end = 7  # sat-sun, fri-sun: Sunday closes the week
        else:
            end = field.high if slash else start  # 5/15: from 5 to the end, every 15
        if end < start:
            raise CronError(f"{field.name} range {base!r} goes backwards in {expression!r}")
    values = set(range(start, end + 1, step))
    if field is _WEEKDAY:
        values = {v % 7 for v in values}  # 7 is Sunday, as 0 is
    return values


def _field(text: str, field: _Field, expression: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values |= _element(part, field, expression)
    return frozenset(values)


def parse(expression: str) -> Cron:
    """Parse ``minute hour day month weekday``; raises CronError naming the bad field."""
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(
            f"cron schedule needs five fields (minute hour day month weekday): {expression!r}"
        )
    minutes, hours, days, months, weekdays = (
        _field(text, field, expression) for text, field in zip(parts, _FIELDS, strict=True)
    )
    cron = Cron(
        expression=expression,
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        day_restricted=not parts[2].startswith("*"),
        weekday_restricted=not parts[4].startswith("*"),
    )
    if cron.day_restricted and not cron.weekday_restricted and not _some_day_exists(cron):
        raise CronError(f"no month has the day of month asked for: {expression!r} never fires")
    return cron


def _some_day_exists(cron: Cron) -> bool:
    longest = {month: calendar.monthrange(2024, month)[1] for month in range(1, 13)}  # leap
    return any(day <= longest[month] for month in cron.months for day in cron.days)


def _list(values: frozenset[int], low: int, high: int) -> str:
    if values == frozenset(range(low, high + 1)):
        return "*"
    return ",".join(str(v) for v in sorted(values))


def trigger(cron: Cron, timezone: tzinfo) -> BaseTrigger:
    """The APScheduler 3 trigger that fires when ``cron`` does, in ``timezone``."""
    weekdays = (
        "*"
        if cron.weekdays == frozenset(range(7))
        # By name: APScheduler's numbers start from Monday, cron's from Sunday.
        else ",".join(WEEKDAYS[d] for d in sorted(cron.weekdays))
    )
    common = {
        "minute": _list(cron.minutes, 0, 59),
        "hour": _list(cron.hours, 0, 23),
        "month": _list(cron.months, 1, 12),
        "second": "0",
        "timezone": timezone,
    }
    days = _list(cron.days, 1, 31)
    if cron.day_restricted and cron.weekday_restricted:
        # Standard cron: either field matching is enough.
        return OrTrigger(
            [
                CronTrigger(day=days, day_of_week="*", **common),
                CronTrigger(day="*", day_of_week=weekdays, **common),
            ]
        )
    return CronTrigger(day=days, day_of_week=weekdays, **common)


def next_time(cron: Cron, timezone: tzinfo, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` when ``cron`` fires (aware, in
    ``timezone``), or None if it never will."""
    start = after + timedelta(microseconds=1)
    fire: datetime | None = trigger(cron, timezone).get_next_fire_time(None, start)
    return fire
