"""Cron-style times in a local zone: ``tue 09:00`` or a crontab line.

``DIGEST_BUILD_AT`` and ``DIGEST_SEND_AT`` are read here. Either form becomes
an APScheduler :class:`CronTrigger` in ``DIGEST_TIMEZONE``, the one piece of
cron arithmetic that both the clock (its job triggers) and the due-logic
(:func:`occurrences`) use, so the two never disagree.

Daylight-saving changes (docs/decisions.md, "The clock"): a local time that
does not exist (spring forward) happens as many minutes after the change as
it was meant to be after the missing hour's start (02:30 → 03:30 in
Europe/Berlin); a local time that happens twice (fall back) counts once, at
its first, summer-time occurrence.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_LIST = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)(?:[-,](?:mon|tue|wed|thu|fri|sat|sun))*$")
_SHORT = re.compile(r"^(?:(?P<days>[a-z,-]+|daily|\*)\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})$")
_FIELD_PART = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


def cron_trigger(text: str, zone: ZoneInfo) -> CronTrigger:
    """``tue 09:00`` (days: ``mon``…``sun``, a list ``mon,thu``, a range
    ``mon-fri``, ``daily``, or none for every day) or a five-field crontab
    line ``0 9 * * tue`` (weekdays numbered as cron does, 0 and 7 = Sunday).

    Raises ValueError, saying what is wrong, for anything else.
    """
    spec = " ".join(text.lower().split())
    short = _SHORT.match(spec)
    if short:
        days = short["days"] or "*"
        if days not in ("*", "daily") and not _DAY_LIST.match(days):
            raise ValueError(f"{days!r} is not a day like tue, mon-fri or mon,thu")
        hour, minute = int(short["hour"]), int(short["minute"])
        if hour > 23 or minute > 59:
            raise ValueError(f"{short['hour']}:{short['minute']} is not a time of day")
        return CronTrigger(
            day_of_week="*" if days == "daily" else days, hour=hour, minute=minute, timezone=zone
        )
    fields = spec.split(" ")
    if len(fields) != 5:
        raise ValueError("expected a time like 'tue 09:00' or a crontab line like '0 9 * * tue'")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        # cron runs when either matches, APScheduler when both do: refused
        # rather than read one way by surprise.
        raise ValueError("give a day of the month or a day of the week, not both")
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=zone,
        )
    except ValueError as error:
        raise ValueError(f"not a crontab line: {error}") from None


def _weekdays(field: str) -> str:
    """A crontab day-of-week field (0 = Sunday) as APScheduler's day names
    (APScheduler 3 numbers from Monday)."""
    if field == "*":
        return "*"
    chosen: set[int] = set()
    for part in field.split(","):
        match = _FIELD_PART.match(part)
        if not match:
            raise ValueError(f"{part!r} is not a day of the week")
        first, _, last = match["range"].partition("-")
        if first == "*":
            low, high = 0, 6
        else:
            low = _day_number(first)
            high = _day_number(last) if last else (6 if match["step"] else low)
        if high < low:
            raise ValueError(f"{part!r}: the range runs backwards")
        chosen.update(n % 7 for n in range(low, high + 1, int(match["step"] or 1)))
    return ",".join(DAYS[n] for n in sorted(chosen))


def _day_number(value: str) -> int:
    if value in DAYS:
        return DAYS.index(value)
    if value.isdigit() and int(value) <= 7:
        return int(value)
    raise ValueError(f"{value!r} is not a day of the week (0-7 or sun-sat)")


def occurrences(
    trigger: CronTrigger, start: dt.datetime, end: dt.datetime
) -> Iterator[dt.datetime]:
    """The trigger's times in ``[start, end)``, in UTC, each once: the second
    pass of a wall-clock time repeated by a fall-back change is left out.

    In UTC because a local time in a gap or a fold never compares equal to
    a time in another zone (PEP 495).
    """
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment < end:
        instant = moment.astimezone(dt.UTC)
        if not _second_pass(instant.astimezone(trigger.timezone)):
            yield instant
        moment = trigger.get_next_fire_time(moment, moment)


def _second_pass(local: dt.datetime) -> bool:
    """True for the second occurrence of a wall-clock time that a fall-back
    change repeats (``fold=1`` with an offset of its own)."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
