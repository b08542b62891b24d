"""ISO weeks ("2026-W48") and their bounds in the digest's time zone."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from worker.errors import ConfigError

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Week:
    year: int
    number: int

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    def previous(self) -> Week:
        """The ISO week before this one (2026-W01 → 2025-W53)."""
        year, number, _ = (self.monday - dt.timedelta(days=7)).isocalendar()
        return Week(year, number)

    def next(self) -> Week:
        """The ISO week after this one (2026-W53 → 2027-W01)."""
        year, number, _ = (self.monday + dt.timedelta(days=7)).isocalendar()
        return Week(year, number)

    def bounds(self, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """The week as a half-open UTC interval: Monday 00:00 to the next
        Monday 00:00, local time in ``zone``."""
        start = dt.datetime.combine(self.monday, dt.time(), tzinfo=zone)
        end = dt.datetime.combine(self.monday + dt.timedelta(days=7), dt.time(), tzinfo=zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def parse_week(text: str) -> Week:
    """``2026-W48`` → :class:`Week`; a clear :class:`ConfigError` otherwise."""
    match = _WEEK.match(text.strip())
    if match:
        year, number = int(match[1]), int(match[2])
        try:
            dt.date.fromisocalendar(year, number, 1)
            return Week(year, number)
        except ValueError:
            pass
    raise ConfigError(f"--week: {text!r} is not an ISO week like 2026-W48")


def week_of(moment: dt.datetime, zone: ZoneInfo) -> Week:
    """The ISO week that ``moment`` falls in, in ``zone``'s local time."""
    year, number, _ = moment.astimezone(zone).isocalendar()
    return Week(year, number)


def last_complete_week(moment: dt.datetime, zone: ZoneInfo) -> Week:
    """The last ISO week that had ended by ``moment`` in ``zone``: the week
    before the one ``moment`` falls in. An edition built at ``moment``
    covers it, so every launch is in a week that is over when it is built."""
    return week_of(moment, zone).previous()
