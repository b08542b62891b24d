"""Each reader's morning, sent by real workers on a simulated clock: three
readers in Pacific/Kiritimati, Europe/Berlin and America/Los_Angeles get
the Sunday edition at 09:00 their time (Los Angeles falls back to winter
time that very morning, after the edition started), once each, by two
worker processes of which one is killed with SIGKILL between the waves;
the edition is sent only after the last wave."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.schedule import add_week_content, utc, without_feeds
from tests.support.simclock import SimulatedClock
from tests.support.smtpserver import Handler
from tests.support.subscribers import set_zones
from worker.config import PROJECT_ROOT, Settings
from worker.domain.states import EditionStatus
from worker.schedule.jobs import run_due
from worker.store.models import Delivery, Edition

# reader0…2 of add_week_content, and their mornings of Sunday 1 November 2026.
MORNINGS = {
    "reader0@example.com": ("Pacific/Kiritimati", utc(2026, 10, 31, 19, 0)),
    "reader1@example.com": ("Europe/Berlin", utc(2026, 11, 1, 8, 0)),
    "reader2@example.com": ("America/Los_Angeles", utc(2026, 11, 1, 17, 0)),
}
DEADLINE = 60.0


@pytest.fixture
def clock(tmp_path: Path) -> SimulatedClock:
    return SimulatedClock(tmp_path / "clock")


@pytest.fixture
def workers(
    database_url: str, smtp_port: int, clock: SimulatedClock, tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """Starts ``digest worker --id NAME`` on the simulated clock; stops
    (SIGTERM) those still running at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(name: str) -> subprocess.Popen[str]:
        log = tmp_path / f"{name}.log"
        digest = [sys.executable, "-m", "tests.support.simclock", str(clock.path)]
        process = subprocess.Popen(
            [*digest, "worker", "--id", name],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}?starttls=off",
                "SECRET_KEY": "test-secret-key",
            },
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            text=True,
        )
        started.append(process)
        until(lambda: "worker started" in log.read_text(), f"{name} to start")
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def until(done: Callable[[], bool], what: str) -> None:
    """Return once ``done()``, or fail after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < deadline, f"waited {DEADLINE:.0f} s for {what}"
        time.sleep(0.05)


def arrivals(handler: Handler) -> list[tuple[str, dt.datetime]]:
    """Each message received: its recipient and its Date (the sending
    worker's simulated clock), in order of arrival."""
    found = []
    for envelope in handler.envelopes:
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0].decode()
        date = next(
            line.split(":", 1)[1] for line in head.split("\r\n") if line.lower().startswith("date:")
        )
        found += [(r, email.utils.parsedate_to_datetime(date.strip())) for r in envelope.rcpt_tos]
    return found


def edition_status(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        return session.scalars(select(Edition.status)).one()


@pytest.mark.slow
def test_each_reader_gets_the_edition_at_nine_their_time_once_through_a_sigkill(
    sessions: sessionmaker[Session],
    settings: Settings,
    handler: Handler,
    clock: SimulatedClock,
    workers: Callable[[str], subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    local = dataclasses.replace(
        without_feeds(settings, tmp_path), digest_send_local=True, digest_send_at="sun 09:00"
    )
    add_week_content(sessions, dt.date(2026, 10, 21))
    set_zones(sessions, {address: zone for address, (zone, _) in MORNINGS.items()})
    first = MORNINGS["reader0@example.com"][1]
    clock.set(first - dt.timedelta(hours=1))
    started = run_due(sessions, local, first, jobs=("build", "send")).started
    assert started is not None and started.queued == 3

    doomed = workers("doomed")
    workers("steady")
    # Each wave: the clock is set a moment before it, and the workers,
    # asleep until then, send it.
    waves = [(address, at) for address, (_, at) in MORNINGS.items()]
    for n, (address, at) in enumerate(waves):
        clock.set(at - dt.timedelta(seconds=2))
        until(lambda n=n: len(handler.envelopes) > n, f"the wave of {at:%H:%M} UTC")
        recipient, date = arrivals(handler)[n]
        assert recipient == address
        assert at <= date < at + dt.timedelta(minutes=1), (address, date)
        if n == 0:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            workers("replacement")
        if n < len(waves) - 1:
            assert edition_status(sessions) == EditionStatus.SENDING
    until(lambda: edition_status(sessions) == EditionStatus.SENT, "the edition to be sent")

    received = Counter(recipient for recipient, _ in arrivals(handler))
    assert received == Counter(list(MORNINGS))  # once each
    with sessions() as session:
        rows = session.execute(select(Delivery.due_at, Delivery.sent_at, Delivery.status)).all()
        sent_at = session.scalars(select(Edition.sent_at)).one()
    assert all(status == "sent" and sent >= due for due, sent, status in rows)
    assert sent_at is not None and sent_at >= MORNINGS["reader2@example.com"][1]
