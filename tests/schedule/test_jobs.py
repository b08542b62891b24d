"""The clock's job runs: a clock that lost its lock does nothing more and
exits 1; a failed job's error is told in the driver's words only."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.errors import ConfigError, driver_words
from worker.schedule.clock import Clock
from worker.schedule.locks import NAMESPACE
from worker.store.models import Feed, FetchLog, Subscriber


def old_fetch_logs(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(FetchLog)) or 0


def test_a_clock_whose_lock_backend_was_killed_runs_no_job_and_exits_1(
    pg_sessions: sessionmaker[Session], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker.clock")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.fetch_log_days + 30)
    with pg_sessions.begin() as session:
        feed = Feed(url="https://feeds.example/launches.xml")
        session.add(feed)
        session.flush()
        session.add(FetchLog(feed_id=feed.id, fetched_at=long_ago, status=200))
    clock = Clock(pg_sessions, settings)
    # The clock's catch-up prunes the old row; add it back afterwards.
    exit_status: list[int] = []
    runner = threading.Thread(target=lambda: exit_status.append(clock.run()))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while "clock caught up" not in caplog.messages:
            assert time.monotonic() < deadline, "the clock never caught up"
            time.sleep(0.05)
        assert old_fetch_logs(pg_sessions) == 0
        with pg_sessions.begin() as session:
            feed_id = session.scalar(select(Feed.id))
            session.add(FetchLog(feed_id=feed_id, fetched_at=long_ago, status=200))
            killed = session.scalar(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND classid = :ns"
                ),
                {"ns": NAMESPACE},
            )
        assert killed
        clock._run(("prune",))  # the next job, as the scheduler would run it
        assert old_fetch_logs(pg_sessions) == 1  # it did nothing
        runner.join(timeout=15)
        assert not runner.is_alive()
        assert exit_status == [1]
    finally:
        clock.stop.set()
        runner.join(timeout=30)


def test_a_database_error_is_told_by_the_drivers_first_line_without_statement_or_address(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.add(Subscriber(email="ada-private@example.com"))
    with pytest.raises(SQLAlchemyError) as caught, sessions.begin() as session:
        session.add(Subscriber(email="ada-private@example.com"))
    assert "ada-private@example.com" in str(caught.value)  # what must not be logged
    words = driver_words(caught.value)
    assert words.startswith("IntegrityError: ") and "\n" not in words
    assert "ada-private" not in words and "INSERT" not in words
    assert driver_words(ConfigError("DATABASE_URL: bad\nsecond line")) == "DATABASE_URL: bad"
    assert driver_words(ValueError("a\x00b" + "c" * 400)).startswith("ValueError: a b")
    assert len(driver_words(ValueError("c" * 400))) == 300
