"""Cron times in a local zone: both forms read alike, and the same local
time across daylight-saving changes (a skipped time runs just after the
change, a repeated one once, at its first pass)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.schedule import BERLIN, berlin, utc
from worker.domain.cron import cron_trigger, occurrences


def first(spec: str, now: dt.datetime) -> dt.datetime:
    """The first time of ``spec``, in Europe/Berlin, at or after ``now``."""
    return next(occurrences(cron_trigger(spec, BERLIN), now, now + dt.timedelta(days=8)))


def test_both_forms_of_a_cron_time_are_read() -> None:
    now = berlin(2026, 11, 25, 12, 0)
    assert first("tue 09:00", now) == berlin(2026, 12, 1, 9, 0)
    assert first("0 9 * * tue", now) == berlin(2026, 12, 1, 9, 0)
    assert first("0 9 * * 0", now) == berlin(2026, 11, 29, 9, 0)  # cron's 0 is Sunday
    assert first("30 7 * * 1-5", now) == berlin(2026, 11, 26, 7, 30)


@pytest.mark.parametrize(
    "change",
    [dt.date(2026, 3, 29), dt.date(2026, 10, 25)],
    ids=["spring-forward", "fall-back"],
)
def test_tuesday_nine_stays_nine_local_across_a_change(change: dt.date) -> None:
    now = dt.datetime.combine(change - dt.timedelta(days=14), dt.time(), BERLIN)
    sends = []
    for _ in range(4):
        now = first("tue 09:00", now)
        sends.append(now)
        now += dt.timedelta(minutes=1)
    assert [s.astimezone(BERLIN).strftime("%a %H:%M") for s in sends] == ["Tue 09:00"] * 4
    offsets = {s.astimezone(BERLIN).utcoffset() for s in sends}
    assert offsets == {dt.timedelta(hours=1), dt.timedelta(hours=2)}


def test_a_time_skipped_by_spring_forward_runs_just_after_the_change() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin (02:00 CET → 03:00 CEST).
    moment = first("sun 02:30", berlin(2026, 3, 28, 12, 0))
    assert moment == utc(2026, 3, 29, 1, 30)
    assert moment.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_a_time_repeated_by_fall_back_runs_once_at_its_first_pass() -> None:
    # 02:30 happens twice on 2026-10-25 in Berlin: at 00:30 and 01:30 UTC.
    once = first("sun 02:30", berlin(2026, 10, 24, 12, 0))
    assert once == utc(2026, 10, 25, 0, 30)
    assert first("sun 02:30", once + dt.timedelta(seconds=1)) == berlin(2026, 11, 1, 2, 30)
