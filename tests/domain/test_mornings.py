"""One wall-clock time in each reader's zone: the instants, across
daylight-saving changes, and the first place on earth to reach it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, available_timezones

import pytest

from worker.domain.mornings import first_morning, known_zone, morning_in, utc_offset, wall_clock

UTC = dt.UTC


@pytest.mark.parametrize(
    ("local", "zone", "instant"),
    [
        # Los Angeles falls back on 1 November 2026 at 02:00: 09:00 is PST.
        (dt.datetime(2026, 10, 31, 9, 0), "America/Los_Angeles", dt.datetime(2026, 10, 31, 16, 0)),
        (dt.datetime(2026, 11, 1, 9, 0), "America/Los_Angeles", dt.datetime(2026, 11, 1, 17, 0)),
        # Berlin falls back on 25 October 2026.
        (dt.datetime(2026, 10, 25, 9, 0), "Europe/Berlin", dt.datetime(2026, 10, 25, 8, 0)),
        (dt.datetime(2026, 11, 1, 9, 0), "Pacific/Kiritimati", dt.datetime(2026, 10, 31, 19, 0)),
        (dt.datetime(2026, 11, 1, 9, 0), "Asia/Kathmandu", dt.datetime(2026, 11, 1, 3, 15)),
        # A time the spring-forward change skips comes as far after it
        # (02:30 → 03:30 CEST); a repeated one at its first (summer) pass.
        (dt.datetime(2027, 3, 28, 2, 30), "Europe/Berlin", dt.datetime(2027, 3, 28, 1, 30)),
        (dt.datetime(2026, 10, 25, 2, 30), "Europe/Berlin", dt.datetime(2026, 10, 25, 0, 30)),
    ],
)
def test_a_wall_clock_time_in_a_zone(local: dt.datetime, zone: str, instant: dt.datetime) -> None:
    at = morning_in(local, ZoneInfo(zone))
    assert at == instant.replace(tzinfo=UTC)
    if zone != "Europe/Berlin" or local.month != 3:  # the skipped time moved
        assert utc_offset(local, at) == ZoneInfo(zone).utcoffset(local)


def test_the_first_morning_is_at_utc_plus_14_and_no_zone_is_earlier() -> None:
    local = dt.datetime(2026, 12, 8, 9, 0)
    first = first_morning(local)
    assert first == dt.datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
    assert all(morning_in(local, ZoneInfo(z)) >= first for z in available_timezones())


def test_the_wall_clock_of_a_send_and_zones_this_machine_does_not_know() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert wall_clock(dt.datetime(2026, 12, 8, 8, 0, tzinfo=UTC), berlin) == dt.datetime(
        2026, 12, 8, 9, 0
    )
    assert known_zone("Asia/Singapore") == ZoneInfo("Asia/Singapore")
    for name in ("Mars/Olympus_Mons", "America", "../etc/passwd", ""):
        assert known_zone(name) is None
    with pytest.raises(ValueError, match="no zone"):
        morning_in(dt.datetime(2026, 1, 1, tzinfo=UTC), berlin)
    with pytest.raises(ValueError, match="no zone"):
        first_morning(dt.datetime(2026, 1, 1, tzinfo=UTC))
