"""Each reader's morning and the schedule: with DIGEST_SEND_LOCAL on, the
send starts when the send's wall-clock time first comes anywhere (UTC+14),
the week it sends is still named by the send time itself, approval and
holds still apply, and each reader's delivery is dated by their zone. The
waves sent by real workers: tests/deliver/test_waves.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.schedule import add_week_content, berlin, utc, without_feeds
from tests.support.subscribers import set_zones
from worker.config import Settings
from worker.deliver.approvals import approve_edition
from worker.domain.weeks import Week
from worker.schedule.clock import clock_jobs
from worker.schedule.due import coming_week, edition_start, send_at_problem, upcoming
from worker.schedule.jobs import run_due
from worker.store.models import Delivery, Subscriber

W43 = Week(2026, 43)
ZONES = ("Pacific/Kiritimati", "Europe/Berlin", "America/Los_Angeles")


@pytest.fixture
def local(settings: Settings, tmp_path: Path) -> Settings:
    """Berlin's list, sending on Sundays at 09:00 in each reader's zone."""
    return dataclasses.replace(
        without_feeds(settings, tmp_path), digest_send_local=True, digest_send_at="sun 09:00"
    )


def test_the_send_runs_at_the_first_morning_on_earth(local: Settings) -> None:
    # Tuesday 09:00 comes first at UTC+14: Monday 19:00 UTC.
    tuesday = dataclasses.replace(local, digest_send_at="tue 09:00")
    now = utc(2026, 11, 30, 12, 0)
    send = next(run for run in upcoming(tuesday, now) if run.job == "send")
    assert send.at.astimezone(dt.UTC) == utc(2026, 11, 30, 19, 0)
    trigger = next(job.trigger for job in clock_jobs(tuesday) if job.id == "send")
    assert trigger.get_next_fire_time(None, now) == utc(2026, 11, 30, 19, 0)
    assert edition_start(tuesday, utc(2026, 12, 1, 8, 0)) == utc(2026, 11, 30, 19, 0)
    off = dataclasses.replace(tuesday, digest_send_local=False)
    assert edition_start(off, utc(2026, 12, 1, 8, 0)) == utc(2026, 12, 1, 8, 0)


def test_between_the_first_morning_and_the_send_time_the_coming_week_is_the_one_sending(
    local: Settings,
) -> None:
    # Saturday 31 October 20:00 UTC: W43's edition started an hour ago
    # (Kiritimati's Sunday 09:00); Berlin's 09:00 is still to come.
    assert coming_week(local, utc(2026, 10, 31, 20, 0)) == W43
    send = next(run for run in upcoming(local, utc(2026, 10, 31, 20, 0)) if run.job == "send")
    assert send.at.astimezone(dt.UTC) == utc(2026, 11, 7, 19, 0)  # the next week's


def zoned(sessions: sessionmaker[Session]) -> None:
    """W43's content and three readers, one per zone of ZONES."""
    add_week_content(sessions, dt.date(2026, 10, 21))
    set_zones(sessions, {f"reader{n}@example.com": zone for n, zone in enumerate(ZONES)})


def dues(sessions: sessionmaker[Session]) -> dict[str | None, dt.datetime | None]:
    with sessions() as session:
        rows = session.execute(
            select(Subscriber.timezone, Delivery.due_at).join(
                Delivery, Delivery.subscriber_id == Subscriber.id
            )
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def test_ticks_start_the_edition_at_the_first_morning_and_date_each_reader(
    sessions: sessionmaker[Session], local: Settings
) -> None:
    zoned(sessions)
    starts = []
    now = utc(2026, 10, 31, 12, 0)
    while now <= utc(2026, 11, 1, 18, 0):
        report = run_due(sessions, local, now, jobs=("build", "send"))
        if report.started is not None:
            starts.append((report.started.week, now))
        now += dt.timedelta(minutes=30)
    assert starts == [(str(W43), utc(2026, 10, 31, 19, 0))]
    # Wall-clock 09:00 on Sunday 1 November in each zone: Los Angeles fell
    # back to UTC-8 that morning, after the edition started.
    assert dues(sessions) == {
        "Pacific/Kiritimati": utc(2026, 10, 31, 19, 0),
        "Europe/Berlin": utc(2026, 11, 1, 8, 0),
        "America/Los_Angeles": utc(2026, 11, 1, 17, 0),
    }


def test_the_first_morning_still_waits_for_approval(
    sessions: sessionmaker[Session], local: Settings
) -> None:
    strict = dataclasses.replace(local, digest_require_approval=True)
    zoned(sessions)
    first = utc(2026, 10, 31, 19, 0)
    report = run_due(sessions, strict, first, jobs=("build", "send"))
    assert report.started is None and report.waiting == "waiting for approval (digest approve)"
    approve_edition(sessions, W43, strict, "editor-ines", first)
    # Approved at 21:00 UTC: the Kiritimati reader's morning has passed
    # (due at once), the others' have not.
    later = run_due(sessions, strict, utc(2026, 10, 31, 21, 0), jobs=("send",))
    assert later.started is not None and later.started.week == str(W43)
    assert dues(sessions)["America/Los_Angeles"] == utc(2026, 11, 1, 17, 0)


def test_a_send_at_whose_first_morning_is_before_the_week_is_over_is_refused(
    local: Settings,
) -> None:
    # Monday 07:30 in Berlin comes first at UTC+14 on Sunday, 18:30 in Berlin.
    early = berlin(2026, 10, 26, 7, 30)
    problem = send_at_problem(local, W43, early) or ""
    assert "starts at Sun 2026-10-25 18:30 with DIGEST_SEND_LOCAL" in problem
    assert send_at_problem(dataclasses.replace(local, digest_send_local=False), W43, early) is None
    assert send_at_problem(local, W43, berlin(2026, 10, 26, 15, 0)) is None
