"""`digest clock` and `digest tick`: the APScheduler jobs and their triggers
across daylight-saving changes, one clock at a time (a second one waits and
takes over from a clock killed with SIGKILL), and ticks run twice at once
sending each subscriber one copy. Real processes, real stores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.schedule import (
    BERLIN,
    UTC,
    add_week_content,
    berlin,
    deliveries,
    store_send_at,
    without_feeds,
)
from worker.config import Settings, load_settings
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week, last_complete_week
from worker.schedule.clock import ONE_OFF_JOB, Clock, clock_jobs
from worker.schedule.due import upcoming
from worker.schedule.jobs import run_due
from worker.store import make_engine, session_factory
from worker.store.models import Edition

# The jobs and their triggers ---------------------------------------------


def test_the_clock_adds_its_jobs_with_explicit_ids_and_misfire_rules(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    clock = Clock(sessions, settings)
    clock._add_jobs()
    jobs = {job.id: job for job in clock.scheduler.get_jobs()}
    assert set(jobs) == {"ingest", "build", "send", "retries", "prune", "catch-up", "lock-check"}
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 12 * 3600)
    assert jobs["retries"].args == (("send", "retries"),)


def test_the_clock_keeps_a_job_at_the_next_send_at_of_an_edition_file(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    quiet = without_feeds(settings, tmp_path)
    clock = Clock(sessions, quiet)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    later = (now + dt.timedelta(days=2)).astimezone(BERLIN).replace(tzinfo=None)
    first = store_send_at(sessions, quiet, Week(2026, 47), later)
    clock._add_jobs()
    planned = {job.id: job for job in clock.scheduler.get_jobs()}[ONE_OFF_JOB]
    assert planned.trigger.get_next_fire_time(None, now) == first
    assert planned.args == (("send",),) and planned.name == f"{ONE_OFF_JOB} 2026-W47"
    # Running, the clock plans again after each job: an edit is seen at the next sweep.
    assert clock.lock.acquire()
    clock.scheduler.start(paused=True)
    try:
        sooner = store_send_at(sessions, quiet, Week(2026, 48), later - dt.timedelta(hours=20))
        clock._run(("retries",))
        planned = clock.scheduler.get_job(ONE_OFF_JOB)
        assert planned.next_run_time == sooner and planned.name == f"{ONE_OFF_JOB} 2026-W48"
        store_send_at(sessions, quiet, Week(2026, 47), None)
        store_send_at(sessions, quiet, Week(2026, 48), None)
        clock._run(("retries",))
        assert clock.scheduler.get_job(ONE_OFF_JOB) is None
    finally:
        clock.scheduler.shutdown(wait=False)
        clock.lock.release()


@pytest.mark.parametrize(
    ("now", "build", "send"),
    [
        # The week after spring forward: 18:00 and 09:00 are UTC+2.
        (berlin(2026, 3, 28, 12, 0), berlin(2026, 3, 30, 18, 0), berlin(2026, 3, 31, 9, 0)),
        # The week after fall back: UTC+1 again.
        (berlin(2026, 10, 24, 12, 0), berlin(2026, 10, 26, 18, 0), berlin(2026, 10, 27, 9, 0)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_build_and_send_triggers_keep_local_time_across_a_change(
    settings: Settings, now: dt.datetime, build: dt.datetime, send: dt.datetime
) -> None:
    triggers = {job.id: job.trigger for job in clock_jobs(settings)}
    fired_build = triggers["build"].get_next_fire_time(None, now)
    fired_send = triggers["send"].get_next_fire_time(None, now)
    assert fired_build.astimezone(UTC) == build and fired_send.astimezone(UTC) == send
    assert fired_send.astimezone(BERLIN).strftime("%a %H:%M") == "Tue 09:00"
    week_before = triggers["send"].get_next_fire_time(None, now - dt.timedelta(days=7))
    assert (send - week_before.astimezone(UTC)) != dt.timedelta(days=7)  # an hour apart


def test_the_clocks_triggers_agree_with_the_schedule_shown(settings: Settings) -> None:
    every_15 = dataclasses.replace(settings, ingest_every=15, digest_send_at="0 7 * * 1-5")
    triggers = {job.id: job.trigger for job in clock_jobs(every_15)}
    now = berlin(2026, 10, 23, 0, 7)
    while now < berlin(2026, 10, 28):
        for run in upcoming(every_15, now):
            fired = triggers[run.job].get_next_fire_time(None, now)
            assert fired.astimezone(UTC) == run.at.astimezone(UTC), (run.job, now)
        now += dt.timedelta(hours=5, minutes=7)


def test_a_send_time_repeated_by_fall_back_fires_twice_but_starts_once(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    at_half_two = dataclasses.replace(
        settings,
        digest_build_at="sun 01:00",
        digest_send_at="sun 02:30",
        feeds_file=tmp_path / "no-feeds.toml",
    )
    add_week_content(sessions, dt.date(2026, 10, 12), subscribers=4)  # W42: the build of the 25th
    trigger = {job.id: job.trigger for job in clock_jobs(at_half_two)}["send"]
    first = trigger.get_next_fire_time(None, berlin(2026, 10, 24, 12, 0))
    second = trigger.get_next_fire_time(first, first)
    # APScheduler fires at both passes of 02:30; the store decides.
    assert [first.astimezone(UTC), second.astimezone(UTC)] == [
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ]
    run_due(sessions, at_half_two, berlin(2026, 10, 25, 1, 0), jobs=("build",))
    started = run_due(sessions, at_half_two, first, jobs=("send",))
    again = run_due(sessions, at_half_two, second, jobs=("send",))
    assert started.started is not None and again.started is None
    assert deliveries(sessions) == 4


# Processes ---------------------------------------------------------------


def due_now(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> dict[str, str]:
    """An environment whose build and send times were two minutes ago,
    daily, and a store with content of the week those build (the last
    complete one) and 40 subscribers."""
    moment = (dt.datetime.now(UTC) - dt.timedelta(minutes=2)).astimezone(BERLIN)
    (tmp_path / "feeds.toml").write_text("")  # none: content comes from the store
    add_week_content(sessions, moment.date() - dt.timedelta(days=7), subscribers=40)
    at = f"{moment.minute} {moment.hour} * * *"
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": "clock-test-secret",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_BUILD_AT": at,
        "DIGEST_SEND_AT": at,
        "FEEDS_FILE": str(tmp_path / "feeds.toml"),
        "DELIVERY_BATCH_SIZE": "5",
    }


@pytest.fixture
def processes() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts `python -m worker …` with its log in a file; kills what is
    left at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def logged(path: Path, words: str) -> Callable[[], bool]:
    return lambda: words in path.read_text()


def test_one_clock_at_a_time_and_the_second_takes_over_from_a_killed_one(
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    env = due_now(sessions, database_url, tmp_path)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = processes(env, first_log, "clock")
    wait_for(logged(first_log, "clock caught up"), "the first clock's catch-up")
    with sessions() as session:
        edition = session.scalars(select(Edition)).one()
    assert edition.status == EditionStatus.SENDING  # built and started: workers send
    assert deliveries(sessions) == 40

    # At DEBUG the waiting clock logs each failed try after the first.
    second = processes({**env, "LOG_LEVEL": "DEBUG"}, second_log, "clock")
    wait_for(logged(second_log, "clock waits"), "the second clock to wait")
    wait_for(logged(second_log, "clock still waits"), "the second clock to try again")
    assert "clock started" not in second_log.read_text()
    assert second_log.read_text().count("clock waits") == 1  # said once

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    wait_for(logged(second_log, "clock caught up"), "the second clock to take over", timeout=40)
    assert "clock lock taken over" in second_log.read_text()
    with sessions() as session:
        again = session.scalars(select(Edition)).one()
    assert (again.status, again.started_at) == (EditionStatus.SENDING, edition.started_at)
    assert deliveries(sessions) == 40  # its catch-up started nothing twice

    waiting_log = tmp_path / "third.log"
    third = processes(env, waiting_log, "clock")
    wait_for(logged(waiting_log, "clock waits"), "a third clock to wait")
    for clock in (third, second):  # a waiting clock and the running one
        began = time.monotonic()
        clock.send_signal(signal.SIGTERM)
        assert clock.wait(timeout=25) == 0
        assert time.monotonic() - began < 25


def test_the_clock_wakes_at_a_send_at_that_is_on_no_cron(
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    env = due_now(sessions, database_url, tmp_path)
    # The regular send is hours away and the sweep (which also starts a due
    # send) runs daily at midnight UTC: only the wake-up starts it on time.
    away = dt.datetime.now(BERLIN) + dt.timedelta(hours=6)
    env |= {"DIGEST_SEND_AT": f"{away.minute} {away.hour} * * *", "RETRY_SWEEP_EVERY": "1440"}
    week = last_complete_week(dt.datetime.now(UTC) - dt.timedelta(minutes=2), BERLIN)
    soon = (dt.datetime.now(BERLIN) + dt.timedelta(seconds=30)).replace(microsecond=0)
    settings = load_settings(env)
    at = store_send_at(sessions, settings, week, soon.replace(tzinfo=None))
    assert at is not None
    log = tmp_path / "clock.log"
    processes(env, log, "clock")
    wait_for(logged(log, "clock caught up"), "the clock's catch-up")
    with sessions() as session:
        built = session.scalars(select(Edition)).one()  # built by the catch-up
    assert built.week == str(week)
    wait_for(lambda: edition_started(sessions) is not None, "the send at its send_at", timeout=90)
    started = edition_started(sessions)
    assert started is not None and at <= started < at + dt.timedelta(seconds=20), (at, started)
    assert deliveries(sessions) == 40


def edition_started(sessions: sessionmaker[Session]) -> dt.datetime | None:
    with sessions() as session:
        return session.scalars(select(Edition.started_at)).one_or_none()


def test_two_ticks_at_once_send_one_edition_once_to_each_subscriber(
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    bind = pg_sessions.kw["bind"]
    env = due_now(pg_sessions, bind.url.render_as_string(hide_password=False), tmp_path)
    ticks = []
    for name in ("a", "b"):
        # Each tick writes to an outbox of its own: a copy sent twice
        # cannot hide by overwriting a file of the same name.
        own = {**env, "MAIL_URL": f"file://{tmp_path / f'outbox-{name}'}"}
        ticks.append((processes(own, tmp_path / f"tick-{name}.log", "tick"), name))
    for process, name in ticks:
        assert process.wait(timeout=120) == 0, (tmp_path / f"tick-{name}.log").read_text()
    recipients = []
    for path in sorted(tmp_path.glob("outbox-*/*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients.append(str(message["To"]))
    assert len(recipients) == 40
    assert sorted(recipients) == sorted(f"reader{n}@example.com" for n in range(40))
    with pg_sessions() as session:
        editions = session.scalars(select(Edition)).all()
    assert len(editions) == 1 and editions[0].status == EditionStatus.SENT
    week = last_complete_week(dt.datetime.now(UTC) - dt.timedelta(minutes=2), BERLIN)
    assert editions[0].week == str(week)

    again = subprocess.run(
        [sys.executable, "-m", "worker", "tick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0 and "nothing due" in again.stdout
    assert len(list(tmp_path.glob("outbox*/*.eml"))) == 40


def test_approve_and_hold_commands_record_who_and_refuse_what_they_must(
    sqlite_template: Path, tmp_path: Path
) -> None:
    # The commands on one store (both stores' logic: tests/deliver/test_approvals.py).
    store = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, store)
    sessions = session_factory(make_engine(f"sqlite:///{store}"))
    env = {
        **due_now(sessions, f"sqlite:///{store}", tmp_path),
        "DIGEST_BUILD_AT": "mon 18:00",
        "DIGEST_SEND_AT": "tue 09:00",
    }

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return digest(env, *args, timeout=60)

    week = str(last_complete_week(dt.datetime.now(UTC) - dt.timedelta(minutes=2), BERLIN))
    refused = command("approve", "--week", week)
    assert refused.returncode == 1 and "no edition for that week yet" in refused.stderr
    assert command("build", "--week", week).returncode == 0
    held = command("hold", "--week", week, "--by", "editor-bo")
    assert held.returncode == 0 and f"{week}: held by editor-bo" in held.stdout
    approved = command("approve", "--week", week)
    assert approved.returncode == 0, approved.stderr
    assert "still held by editor-bo" in approved.stdout
    with sessions() as session:
        edition = session.scalars(select(Edition)).one()
    assert edition.held_by == "editor-bo" and edition.approved_by  # the OS user
    assert edition.approved_at is not None and edition.held_at is not None
    sent = command("send", "--week", week)
    assert sent.returncode == 1 and "held" in sent.stderr
    released = command("hold", "--week", week, "--release")
    assert released.returncode == 0 and "hold released" in released.stdout
    assert command("send", "--week", week).returncode == 0
    late = command("hold", "--week", week)
    assert late.returncode == 1
    assert "the edition is sent; only a ready edition can be held" in late.stderr
