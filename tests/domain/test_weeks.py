"""ISO weeks: read from their names, bounded by local Mondays."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.support.schedule import BERLIN
from worker.domain.weeks import Week, last_complete_week, parse_week, week_of
from worker.errors import ConfigError


def test_a_week_is_read_from_its_iso_name() -> None:
    assert parse_week(" 2026-W48 ") == Week(2026, 48)
    assert parse_week("2026-W53") == Week(2026, 53)  # 2026 has 53 ISO weeks
    assert str(Week(2026, 1)) == "2026-W01"
    for bad in ("2025-W53", "2026-W00", "2026-48", "2026-w48", "W48"):
        with pytest.raises(ConfigError, match="is not an ISO week like 2026-W48"):
            parse_week(bad)


def test_a_week_runs_from_monday_to_monday_in_local_time() -> None:
    start, end = Week(2026, 48).bounds(BERLIN)
    assert (start, end) == (
        dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 29, 23, 0, tzinfo=dt.UTC),
    )
    # Summer time ends on Sunday 25 October 2026: that week is an hour longer.
    start, end = Week(2026, 43).bounds(BERLIN)
    assert end - start == dt.timedelta(days=7, hours=1)


def test_the_week_of_a_moment_is_the_local_one() -> None:
    # Sunday 23:30 UTC is already Monday 00:30 in Berlin.
    late = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)
    assert week_of(late, BERLIN) == Week(2026, 49)
    assert week_of(late, ZoneInfo("UTC")) == Week(2026, 48)
    assert last_complete_week(late, BERLIN) == Week(2026, 48)
