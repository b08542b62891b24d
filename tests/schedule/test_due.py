"""The schedule and the due-logic, with the time chosen by the tests: the
schedule's settings, the times shown, a simulated week of ticks across
daylight-saving changes, catch-up within the grace period, the coming send,
the log of fetches. Cron times themselves: tests/domain/test_cron.py;
approvals and holds: tests/deliver/test_approvals.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.feedserver import FeedServer, Route, allowing, serve_feeds
from tests.support.schedule import (
    BERLIN,
    UTC,
    add_week_content,
    berlin,
    deliveries,
    edition,
    utc,
    without_feeds,
)
from worker.config import Settings, load_settings
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week
from worker.errors import ConfigError
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import ingest_feeds
from worker.mail import backend_from_url
from worker.schedule.due import coming_week, due, send_week, upcoming
from worker.schedule.jobs import run_due, tick
from worker.store.models import Edition, FetchLog, Tool


@pytest.fixture
def clocked(settings: Settings, tmp_path: Path) -> Settings:
    return without_feeds(settings, tmp_path)


# The settings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DIGEST_SEND_AT", "tue 9", "DIGEST_SEND_AT: 'tue 9'"),
        ("DIGEST_SEND_AT", "tue 25:00", "not a time of day"),
        ("DIGEST_BUILD_AT", "someday 18:00", "DIGEST_BUILD_AT: 'someday 18:00'"),
        ("DIGEST_BUILD_AT", "0 18 * * 8", "DIGEST_BUILD_AT: .*not a day of the week"),
        ("DIGEST_BUILD_AT", "0 18 1 * mon", "not both"),
        ("MISFIRE_GRACE_HOURS", "0", "MISFIRE_GRACE_HOURS: must be more than 0"),
        ("INGEST_EVERY", "hourly", "INGEST_EVERY: not a number"),
        ("FETCH_LOG_DAYS", "-1", "FETCH_LOG_DAYS: must be more than 0"),
    ],
)
def test_a_bad_schedule_setting_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({variable: value})


def test_schedule_settings_have_defaults_and_are_read() -> None:
    default = load_settings({})
    assert (default.digest_build_at, default.digest_send_at) == ("mon 18:00", "tue 09:00")
    assert not default.digest_require_approval
    assert (default.ingest_every, default.retry_sweep_every, default.fetch_log_days) == (60, 5, 30)
    assert default.misfire_grace_hours == 12
    chosen = load_settings(
        {"DIGEST_REQUIRE_APPROVAL": "yes", "INGEST_EVERY": "15", "MISFIRE_GRACE_HOURS": "2.5"}
    )
    assert chosen.digest_require_approval and chosen.ingest_every == 15
    assert chosen.misfire_grace_hours == 2.5


# The times shown ---------------------------------------------------------


def test_upcoming_shows_each_job_in_local_time(clocked: Settings) -> None:
    runs = upcoming(clocked, berlin(2026, 10, 24, 12, 7))
    assert [run.job for run in runs] == ["retries", "ingest", "prune", "build", "send"]
    assert all(run.at.tzinfo == BERLIN for run in runs)
    # Compared in UTC: a local time in a fold is never equal to another
    # zone's (PEP 495), and the prune's 02:00 falls in the fall-back fold.
    by_job = {run.job: run.at.astimezone(UTC) for run in runs}
    assert by_job["retries"] == berlin(2026, 10, 24, 12, 10)
    assert by_job["ingest"] == berlin(2026, 10, 24, 13, 0)
    assert by_job["prune"] == utc(2026, 10, 25, 0, 0)
    # After the change: 18:00 and 09:00 local are an hour later in UTC.
    assert by_job["build"] == utc(2026, 10, 26, 17, 0)
    assert by_job["send"] == utc(2026, 10, 27, 8, 0)


# A simulated week --------------------------------------------------------


def rss(item_date: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Launches</title>
<item><title>Tool of the week</title><link>https://tools.example/tool</link>
<guid>tool-of-the-week</guid><pubDate>{item_date}</pubDate>
<description>A tool launched this week.</description></item>
</channel></rss>""".encode()


@pytest.fixture
def feeds(tmp_path: Path) -> Iterator[FeedServer]:
    with serve_feeds(tmp_path) as server:
        yield server


@pytest.mark.parametrize(
    ("start", "build_at", "send_at"),
    [
        # Spring forward on Sunday 29 March: Berlin goes from UTC+1 to UTC+2.
        (utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 16, 0), utc(2026, 3, 31, 7, 0)),
        # Fall back on Sunday 25 October: from UTC+2 to UTC+1.
        (utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 17, 0), utc(2026, 10, 27, 8, 0)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_week_of_ticks_across_a_change_ingests_builds_and_sends_on_time(
    sessions: sessionmaker[Session],
    clocked: Settings,
    feeds: FeedServer,
    tmp_path: Path,
    outbox: list[object],
    start: dt.datetime,
    build_at: dt.datetime,
    send_at: dt.datetime,
) -> None:
    monday = build_at.astimezone(BERLIN).date()
    saturday = monday - dt.timedelta(days=2)  # before the change; the build covers its week
    week = Week(*saturday.isocalendar()[:2])
    feeds.routes["/launches.xml"] = Route(body=rss(f"{saturday:%a, %d %b %Y} 10:00:00 +0000"))
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(f'[[feed]]\nurl = "{feeds.url("/launches.xml")}"\n')
    settings = allowing(dataclasses.replace(clocked, feeds_file=feeds_file), feeds)
    add_week_content(sessions, monday - dt.timedelta(days=14))  # subscribers; an old tool
    step = dt.timedelta(hours=1)
    built_first = sending_first = None
    now = start
    while now <= send_at + dt.timedelta(hours=3):
        tick(sessions, settings, backend_from_url("memory://"), now)
        found = edition(sessions, week)
        if found is not None and built_first is None:
            built_first = now
        if found is not None and found.status != EditionStatus.READY and sending_first is None:
            sending_first = now
        now += step
    assert built_first == build_at  # built at 18:00 local, not before
    assert sending_first == send_at  # started at 09:00 local, once
    found = edition(sessions, week)
    assert found is not None and found.status == EditionStatus.SENT
    assert sorted(m.recipient for m in outbox) == [  # type: ignore[attr-defined]
        "reader0@example.com",
        "reader1@example.com",
        "reader2@example.com",
    ]
    # One ingest per hour on the hour (UTC), the first fetch new, then 304s.
    with sessions() as session:
        fetches = session.execute(
            select(FetchLog.fetched_at, FetchLog.status, FetchLog.new_launches).order_by(
                FetchLog.id
            )
        ).all()
    hours = int((send_at + dt.timedelta(hours=3) - start) / dt.timedelta(hours=1)) + 1
    assert [f.fetched_at for f in fetches] == [start + dt.timedelta(hours=n) for n in range(hours)]
    assert [(f.status, f.new_launches) for f in fetches[:2]] == [(200, 1), (304, 0)]


def test_an_edition_covers_the_last_complete_week_before_its_build(clocked: Settings) -> None:
    assert Week(2026, 48).previous() == Week(2026, 47)
    assert Week(2027, 1).previous() == Week(2026, 53)  # 2026 has 53 ISO weeks
    assert Week(2026, 1).previous() == Week(2025, 52)
    assert send_week(clocked, berlin(2026, 12, 1, 9, 0)) == Week(2026, 48)
    # A send with no build time in the week before it: the week before its own.
    lone = dataclasses.replace(clocked, digest_build_at="0 18 1 * *")
    assert send_week(lone, berlin(2026, 12, 1, 9, 0)) == Week(2026, 48)
    assert send_week(lone, berlin(2026, 12, 8, 9, 0)) == Week(2026, 48)  # built 1 December
    assert send_week(lone, berlin(2026, 12, 15, 9, 0)) == Week(2026, 50)


def test_launches_of_a_whole_week_go_out_in_one_edition_the_tuesday_after(
    sessions: sessionmaker[Session], clocked: Settings, outbox: list[object]
) -> None:
    # The review's case: tools launched Monday, Wednesday and Sunday of W48,
    # the clock's due-logic every hour for two weeks and a day.
    add_week_content(sessions, dt.date(2026, 11, 9), subscribers=2)  # subscribers; W46
    launched = [dt.date(2026, 11, 23), dt.date(2026, 11, 25), dt.date(2026, 11, 29)]
    with sessions.begin() as session:
        for day in launched:
            session.add(Tool(slug=f"tool-{day}", name=f"Launched {day:%A}", launched_on=day))
    backend = backend_from_url("memory://")
    starts = []
    now = berlin(2026, 11, 23, 0, 0)
    while now < berlin(2026, 12, 8, 12, 0):
        report = tick(sessions, clocked, backend, now)
        if report.started is not None:
            starts.append((report.started.week, now))
        now += dt.timedelta(hours=1)
    assert starts == [("2026-W48", berlin(2026, 12, 1, 9, 0))]  # the Tuesday after, once
    with sessions() as session:
        statuses = {
            week: status for week, status in session.execute(select(Edition.week, Edition.status))
        }
    assert statuses == {
        "2026-W47": EditionStatus.SKIPPED,  # built Monday 23 November: nothing in W47
        "2026-W48": EditionStatus.SENT,
        "2026-W49": EditionStatus.SKIPPED,  # built Monday 7 December
    }
    assert sorted(m.recipient for m in outbox) == [  # type: ignore[attr-defined]
        "reader0@example.com",
        "reader1@example.com",
    ]
    for message in outbox:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)  # type: ignore[attr-defined]
        text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert all(f"Launched {day:%A}" in text for day in launched)


# Catch-up and grace ------------------------------------------------------


def test_a_clock_back_after_the_send_time_catches_up_once(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 16))
    week = Week(2026, 47)
    # Down over the build (Monday 18:00) and the send (Tuesday 09:00).
    back = berlin(2026, 11, 24, 14, 0)
    first = run_due(sessions, clocked, back)
    assert [b.week for b in first.built] == ["2026-W47"]
    assert first.started is not None and first.started.queued == 3
    started = edition(sessions, week)
    assert started is not None and started.status == EditionStatus.SENDING
    again = run_due(sessions, clocked, back + dt.timedelta(minutes=5))
    assert again.built == [] and again.started is None
    assert deliveries(sessions) == 3
    assert edition(sessions, week).started_at == started.started_at  # type: ignore[union-attr]


def test_a_clock_back_after_the_grace_period_sends_nothing(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 16))
    late = berlin(2026, 11, 24, 21, 1)  # 12 hours and a minute after the send time
    with sessions() as session:
        assert due(session, clocked, late).send is None
    report = run_due(sessions, clocked, late)
    assert report.built == [] and report.started is None
    assert edition(sessions, Week(2026, 47)) is None
    assert deliveries(sessions) == 0


def test_before_the_build_time_nothing_is_built(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 16))
    report = run_due(sessions, clocked, berlin(2026, 11, 23, 17, 59))
    assert report.built == [] and edition(sessions, Week(2026, 47)) is None
    report = run_due(sessions, clocked, berlin(2026, 11, 23, 18, 0))
    assert [(b.week, b.status) for b in report.built] == [("2026-W47", "ready")]
    assert report.started is None


def test_an_empty_week_is_recorded_skipped_and_sends_nothing(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 9))  # content of another week only
    run_due(sessions, clocked, berlin(2026, 11, 23, 18, 0))
    report = run_due(sessions, clocked, berlin(2026, 11, 24, 9, 0))
    skipped = edition(sessions, Week(2026, 47))
    assert skipped is not None and skipped.status == EditionStatus.SKIPPED
    assert report.started is None and deliveries(sessions) == 0


def test_a_sunday_build_covers_the_week_before_its_own(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    # Sunday 29 November is in W48, which is not over yet: its launches go
    # into the edition built the Sunday after.
    sunday = dataclasses.replace(clocked, digest_build_at="sun 18:00", digest_send_at="mon 09:00")
    add_week_content(sessions, dt.date(2026, 11, 16))
    assert send_week(sunday, berlin(2026, 11, 30, 9, 0)) == Week(2026, 47)
    run_due(sessions, sunday, berlin(2026, 11, 29, 18, 0))
    report = run_due(sessions, sunday, berlin(2026, 11, 30, 9, 0))
    assert report.started is not None and report.started.week == "2026-W47"


def test_two_runs_at_once_build_and_start_once(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 16), subscribers=20)
    at = berlin(2026, 11, 24, 9, 0)  # the build was missed: both would build, then start
    reports = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        reports.append(run_due(sessions, clocked, at, jobs=("build", "send")))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r.built) for r in reports) == 1
    assert not any(r.failed for r in reports)
    # ON CONFLICT keeps the count right even if both moved the edition: ask who did.
    assert [r.started is not None for r in reports].count(True) == 1
    assert deliveries(sessions) == 20


# The coming send --------------------------------------------------------


def test_an_editor_means_the_coming_send_without_a_week(clocked: Settings) -> None:
    assert coming_week(clocked, berlin(2026, 11, 23, 19, 0)) == Week(2026, 47)
    assert coming_week(clocked, berlin(2026, 11, 24, 15, 0)) == Week(2026, 47)  # in grace
    assert coming_week(clocked, berlin(2026, 11, 25, 8, 0)) == Week(2026, 48)


# The log of fetches ------------------------------------------------------


def test_each_fetch_is_logged_and_old_rows_are_pruned(
    sessions: sessionmaker[Session], clocked: Settings, feeds: FeedServer
) -> None:
    feeds.routes["/good.xml"] = Route(body=rss("Mon, 23 Nov 2026 10:00:00 +0000"))
    feeds.routes["/broken.xml"] = Route(status=500, body=b"down")
    specs = [FeedSpec(feeds.url("/good.xml")), FeedSpec(feeds.url("/broken.xml"))]
    first, second = utc(2026, 10, 1, 12, 0), utc(2026, 11, 20, 12, 0)
    ingest_feeds(sessions, specs, allowing(clocked, feeds), now=first)
    ingest_feeds(sessions, specs, allowing(clocked, feeds), now=second)
    with sessions() as session:
        rows = session.execute(
            select(
                FetchLog.fetched_at, FetchLog.status, FetchLog.new_launches, FetchLog.error
            ).order_by(FetchLog.fetched_at, FetchLog.feed_id)  # fetched at once: either first
        ).all()
    assert [(r.fetched_at, r.status, r.new_launches) for r in rows] == [
        (first, 200, 1),
        (first, 500, 0),
        (second, 304, 0),
        (second, 500, 0),
    ]
    assert rows[0].error is None and "500" in (rows[1].error or "")
    report = run_due(sessions, clocked, utc(2026, 11, 25, 12, 0), jobs=("prune",))
    assert report.pruned == 2  # older than FETCH_LOG_DAYS (30)
    with sessions() as session:
        assert session.scalars(select(FetchLog.fetched_at)).all() == [second, second]


def test_ingest_is_due_once_per_slot(
    sessions: sessionmaker[Session], clocked: Settings, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.routes["/good.xml"] = Route(body=rss("Mon, 23 Nov 2026 10:00:00 +0000"))
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(f'[[feed]]\nurl = "{feeds.url("/good.xml")}"\n')
    settings = allowing(dataclasses.replace(clocked, feeds_file=feeds_file, ingest_every=15), feeds)
    at = utc(2026, 11, 25, 10, 14)
    assert run_due(sessions, settings, at, jobs=("ingest",)).ingested is not None
    assert run_due(sessions, settings, at, jobs=("ingest",)).ingested is None
    assert run_due(sessions, settings, utc(2026, 11, 25, 10, 15), jobs=("ingest",)).ingested


def test_without_a_feeds_file_at_the_default_place_ingest_does_nothing(
    sessions: sessionmaker[Session],
    clocked: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no feeds.toml here
    unconfigured = dataclasses.replace(clocked, feeds_file=Settings().feeds_file)
    report = run_due(sessions, unconfigured, utc(2026, 11, 25, 10, 0), jobs=("ingest",))
    assert report.failed == [] and report.ingested is None


def test_a_missing_feeds_file_fails_the_ingest_alone(
    sessions: sessionmaker[Session], clocked: Settings, tmp_path: Path
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 16))
    missing = dataclasses.replace(clocked, feeds_file=tmp_path / "gone.toml")
    report = run_due(sessions, missing, berlin(2026, 11, 24, 9, 0))
    assert report.failed == [f"ingest: FEEDS_FILE: {tmp_path / 'gone.toml'} does not exist"]
    assert report.started is not None  # the other jobs ran
