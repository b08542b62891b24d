"""A week's one-off send time: the ``send_at`` of its edition file moves
that week's start, and only that week's, with the time chosen by the
tests: ticks across daylight-saving changes in Europe/Berlin, a time
earlier and one later than DIGEST_SEND_AT, approvals and holds, the rule
for which times a week may take, and `digest tick` and a command without
--week as real processes. The clock's wake-up: tests/schedule/test_clock.py;
`digest status`: tests/ops/test_status.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.schedule import (
    BERLIN,
    UTC,
    add_week_content,
    berlin,
    deliveries,
    edition,
    store_send_at,
    without_feeds,
)
from worker.config import Settings
from worker.deliver.approvals import approve_edition, hold_edition, release_edition
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week, last_complete_week
from worker.mail import backend_from_url
from worker.schedule.due import (
    coming_week,
    regular_send_time,
    send_at_problem,
    send_time,
    upcoming,
)
from worker.schedule.jobs import run_due, tick
from worker.store.models import Edition, Tool

W47 = Week(2026, 47)


@pytest.fixture
def clocked(settings: Settings, tmp_path: Path) -> Settings:
    return without_feeds(settings, tmp_path)


# Ticks across a week -----------------------------------------------------


@pytest.mark.parametrize(
    ("week", "send_at", "built_at", "next_send"),
    [
        # W43 ends on Sunday 25 October, when Berlin falls back to UTC+1: a
        # file written in summer time means 07:30 winter time, 06:30 UTC.
        # Earlier than the build (Monday 18:00): the send builds it first.
        (
            Week(2026, 43),
            dt.datetime(2026, 10, 26, 7, 30),
            berlin(2026, 10, 26, 7, 30),
            berlin(2026, 11, 3, 9, 0),
        ),
        # Later than the regular Tuesday 09:00, which passes by.
        (
            Week(2026, 43),
            dt.datetime(2026, 10, 28, 10, 30),
            berlin(2026, 10, 26, 18, 0),
            berlin(2026, 11, 3, 9, 0),
        ),
        # W12 of 2027 ends on Sunday 28 March, when Berlin springs forward
        # to UTC+2: 07:30 summer time is 05:30 UTC.
        (
            Week(2027, 12),
            dt.datetime(2027, 3, 29, 7, 30),
            berlin(2027, 3, 29, 7, 30),
            berlin(2027, 4, 6, 9, 0),
        ),
        (
            Week(2027, 12),
            dt.datetime(2027, 3, 31, 10, 30),
            berlin(2027, 3, 29, 18, 0),
            berlin(2027, 4, 6, 9, 0),
        ),
    ],
    ids=["fall-back-earlier", "fall-back-later", "spring-forward-earlier", "spring-forward-later"],
)
def test_a_send_at_moves_its_weeks_start_across_a_change_and_not_the_next_weeks(
    sessions: sessionmaker[Session],
    clocked: Settings,
    outbox: list[object],
    week: Week,
    send_at: dt.datetime,
    built_at: dt.datetime,
    next_send: dt.datetime,
) -> None:
    stored = store_send_at(sessions, clocked, week, send_at)
    assert stored == dt.datetime.combine(send_at.date(), send_at.time(), BERLIN).astimezone(UTC)
    add_week_content(sessions, week.monday + dt.timedelta(days=2))
    with sessions.begin() as session:
        session.add(Tool(slug="next-week", name="Next week's", launched_on=week.next().monday))
    backend = backend_from_url("memory://")
    starts, built_first = [], None
    # Every half hour (UTC) from the week's last Saturday to the next week's send.
    now = dt.datetime.combine(week.sunday, dt.time(), UTC) - dt.timedelta(days=1)
    while now <= next_send + dt.timedelta(hours=1):
        report = tick(sessions, clocked, backend, now)
        if report.started is not None:
            starts.append((report.started.week, now))
        if built_first is None and edition(sessions, week) is not None:
            built_first = now
        now += dt.timedelta(minutes=30)
    # At the file's local time, not before, and not at the regular time.
    assert starts == [(str(week), stored), (str(week.next()), next_send)]
    assert built_first == built_at
    assert len(outbox) == 6  # three subscribers, two editions
    sent = edition(sessions, week)
    assert sent is not None and sent.status == EditionStatus.SENT


# Approvals, holds, ticks -------------------------------------------------


def test_a_moved_send_still_waits_for_approval_and_for_a_release(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    strict = dataclasses.replace(clocked, digest_require_approval=True)
    add_week_content(sessions, dt.date(2026, 11, 18))
    at = store_send_at(sessions, strict, W47, dt.datetime(2026, 11, 23, 7, 30))
    assert at == berlin(2026, 11, 23, 7, 30)
    early = run_due(sessions, strict, at - dt.timedelta(minutes=1))
    assert early.built == [] and early.waiting is None
    report = run_due(sessions, strict, at)
    assert [b.week for b in report.built] == ["2026-W47"]  # built first: the build is at 18:00
    assert report.started is None and report.waiting == "waiting for approval (digest approve)"
    hold_edition(sessions, W47, strict, "editor-bo", at)
    approve_edition(sessions, W47, strict, "editor-ines", at)
    held = run_due(sessions, strict, at + dt.timedelta(minutes=5))
    assert held.started is None and held.waiting and "held by editor-bo" in held.waiting
    release_edition(sessions, W47, strict, "editor-bo")
    released = run_due(sessions, strict, at + dt.timedelta(minutes=10))
    assert released.started is not None and released.started.week == "2026-W47"
    assert deliveries(sessions) == 3


def test_the_regular_time_of_a_moved_week_starts_nothing_and_builds_nothing(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 18))
    store_send_at(sessions, clocked, W47, dt.datetime(2026, 11, 25, 8, 0))
    regular = berlin(2026, 11, 24, 9, 0)  # the build at 18:00 the day before was missed
    report = run_due(sessions, clocked, regular)
    assert report.built == [] and report.started is None
    assert edition(sessions, W47) is None
    # Its own time builds it and starts it, a day later.
    moved = run_due(sessions, clocked, berlin(2026, 11, 25, 8, 0))
    assert [b.week for b in moved.built] == ["2026-W47"]
    assert moved.started is not None and moved.started.queued == 3


def test_a_tick_at_the_send_at_starts_and_sends_it_and_one_a_minute_before_does_not(
    sessions: sessionmaker[Session], clocked: Settings, outbox: list[object]
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 18))
    at = store_send_at(sessions, clocked, W47, dt.datetime(2026, 11, 23, 21, 15))
    assert at is not None
    run_due(sessions, clocked, berlin(2026, 11, 23, 18, 0))  # built at the build time
    backend = backend_from_url("memory://")
    before = tick(sessions, clocked, backend, at - dt.timedelta(minutes=1))
    assert before.started is None and before.sent == 0
    report = tick(sessions, clocked, backend, at)
    assert report.started is not None and report.started.week == "2026-W47"
    assert report.sent == 3 and len(outbox) == 3
    sent = edition(sessions, W47)
    assert sent is not None and sent.status == EditionStatus.SENT


def test_a_moved_send_past_the_grace_period_is_left_alone(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 18))
    at = store_send_at(sessions, clocked, W47, dt.datetime(2026, 11, 23, 7, 30))
    assert at is not None
    late = run_due(sessions, clocked, at + dt.timedelta(hours=12, minutes=1))
    assert late.started is None and [b.week for b in late.built] == ["2026-W47"]  # by 18:00's
    assert run_due(sessions, clocked, berlin(2026, 11, 24, 9, 0)).started is None
    assert deliveries(sessions) == 0


# What the schedule says --------------------------------------------------


def test_a_weeks_send_time_is_its_files_send_at_or_else_its_regular_time(
    clocked: Settings,
) -> None:
    assert regular_send_time(clocked, Week(2026, 48)) == berlin(2026, 12, 1, 9, 0)
    assert regular_send_time(clocked, Week(2026, 43)) == berlin(2026, 10, 27, 9, 0)  # UTC+1
    assert regular_send_time(clocked, Week(2026, 53)) == berlin(2027, 1, 5, 9, 0)
    assert send_time(clocked, Week(2026, 48), None) == berlin(2026, 12, 1, 9, 0)
    moved = berlin(2026, 12, 1, 7, 30)
    assert send_time(clocked, Week(2026, 48), moved) == moved
    # A Sunday build covers the week before its own: sent eight days after it ends.
    sunday = dataclasses.replace(clocked, digest_build_at="sun 18:00", digest_send_at="mon 09:00")
    assert regular_send_time(sunday, W47) == berlin(2026, 11, 30, 9, 0)
    # A monthly build skips most weeks: the schedule never sends them.
    monthly = dataclasses.replace(clocked, digest_build_at="0 18 1 * *")
    assert regular_send_time(monthly, Week(2026, 48)) == berlin(2026, 12, 1, 9, 0)
    assert regular_send_time(monthly, Week(2026, 49)) is None


def test_the_schedule_shows_and_means_the_moved_send(clocked: Settings) -> None:
    moved = {Week(2026, 48): berlin(2026, 12, 2, 10, 0)}
    now = berlin(2026, 11, 27, 12, 0)
    send = next(run for run in upcoming(clocked, now, moved) if run.job == "send")
    assert (send.at.astimezone(UTC), send.edition_file) == (berlin(2026, 12, 2, 10, 0), "2026-W48")
    assert send.at.tzinfo == BERLIN
    # Once it passed, the next send is the next week's regular one.
    after = next(
        run for run in upcoming(clocked, berlin(2026, 12, 2, 11), moved) if run.job == "send"
    )
    assert (after.at.astimezone(UTC), after.edition_file) == (berlin(2026, 12, 8, 9, 0), None)
    # Between the regular time and the moved one, an editor still means W48.
    assert coming_week(clocked, berlin(2026, 12, 1, 22, 0)) == Week(2026, 49)
    assert coming_week(clocked, berlin(2026, 12, 1, 22, 0), moved) == Week(2026, 48)
    assert coming_week(clocked, berlin(2026, 12, 2, 11, 0), moved) == Week(2026, 48)  # in grace
    assert coming_week(clocked, berlin(2026, 12, 3, 8, 0), moved) == Week(2026, 49)


@pytest.mark.parametrize(
    ("local", "problem"),
    [
        ((2026, 11, 30, 0, 0), None),  # the moment W48 is over
        ((2026, 12, 1, 7, 30), None),
        ((2026, 12, 8, 8, 59), None),
        (
            (2026, 11, 29, 20, 0),
            "Sun 2026-11-29 20:00 is before 2026-W48 is over (Mon 2026-11-30 00:00): the"
            " edition would miss the week's last launches",
        ),
        (
            (2026, 12, 8, 9, 0),
            "Tue 2026-12-08 09:00 is not before 2026-W49 is sent (Tue 2026-12-08 09:00):"
            " editions go out in order; send it by hand with digest send --week 2026-W48",
        ),
    ],
)
def test_a_send_at_must_come_after_its_week_and_before_the_next_weeks_send(
    clocked: Settings, local: tuple[int, ...], problem: str | None
) -> None:
    assert send_at_problem(clocked, Week(2026, 48), berlin(*local)) == problem


def test_a_send_at_in_the_hour_a_change_skips_or_repeats_reads_as_the_cron_times_do(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    # 02:30 on 28 March 2027 does not exist in Berlin: 03:30 summer time.
    skipped = store_send_at(sessions, clocked, Week(2027, 11), dt.datetime(2027, 3, 28, 2, 30))
    assert skipped == dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    # 02:30 on 25 October 2026 happens twice: the first, summer-time pass.
    repeated = store_send_at(sessions, clocked, Week(2026, 42), dt.datetime(2026, 10, 25, 2, 30))
    assert repeated == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert send_at_problem(clocked, Week(2026, 42), repeated) is None


# `digest tick`, the real process ----------------------------------------


def test_digest_tick_starts_a_week_at_its_send_at_and_not_before(
    sessions: sessionmaker[Session], database_url: str, clocked: Settings, tmp_path: Path
) -> None:
    now = dt.datetime.now(UTC)
    week = last_complete_week(now, BERLIN)
    add_week_content(sessions, week.monday + dt.timedelta(days=2))
    # The regular build and send are six hours away, every day: only the
    # file's time can start the week now.
    away = (now + dt.timedelta(hours=6)).astimezone(BERLIN)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": "tick-test-secret",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_BUILD_AT": f"{away.minute} {away.hour} * * *",
        "DIGEST_SEND_AT": f"{away.minute} {away.hour} * * *",
        "FEEDS_FILE": str(clocked.feeds_file),
    }
    coming = (now + dt.timedelta(hours=1)).astimezone(BERLIN).replace(tzinfo=None)
    store_send_at(sessions, clocked, week, coming)
    waits = digest(env, "tick")
    assert waits.returncode == 0 and waits.stdout.strip() == "nothing due", waits.stderr
    assert edition(sessions, week) is None
    passed = (now - dt.timedelta(minutes=2)).astimezone(BERLIN).replace(tzinfo=None)
    store_send_at(sessions, clocked, week, passed)
    done = digest(env, "tick")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{week} built (ready); {week} sending; 3 sent\n"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3


def test_a_command_without_week_means_the_week_whose_moved_send_is_due(
    sessions: sessionmaker[Session], database_url: str, settings: Settings
) -> None:
    now = dt.datetime.now(UTC)
    moved = last_complete_week(now, BERLIN).previous().previous()  # never the regular one
    with sessions.begin() as session:
        session.add(Edition(list_id=settings.list_id, week=str(moved), status=EditionStatus.READY))
    passed = (now - dt.timedelta(minutes=1)).astimezone(BERLIN).replace(tzinfo=None)
    store_send_at(sessions, settings, moved, passed)
    env = {**os.environ, "DATABASE_URL": database_url, "DIGEST_TIMEZONE": "Europe/Berlin"}
    done = digest(env, "approve", "--by", "editor-ines")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{moved}: approved by editor-ines at "), done.stdout
