"""``digest clock``: the one scheduler process (APScheduler 3).

It only says when to look: each job calls :func:`worker.schedule.jobs.run_due`, and
the store's state decides what happens, so a job that fires late, twice, or
after a restart changes nothing by itself. Sending is left to ``digest
worker`` processes.

Only one clock runs at a time. It holds the ``clock`` lock of
:mod:`worker.schedule.locks` for its whole life; a second clock says once that it
waits, tries again every few seconds, and takes over when the first one's
lock is freed (its process ended, or its database session did). On start
it runs every job once, which catches up a build or send missed while no
clock ran (within ``MISFIRE_GRACE_HOURS``).

A week's one-off send time (an edition file's ``send_at``) is on no cron:
the clock reads the next one from the store when it starts and after every
job it runs, and keeps one date job (``one-off-send``) at that time. An
edition file saved while the clock runs is seen at the next sweep
(``RETRY_SWEEP_EVERY``); a time that passed meanwhile is started by that
sweep.

SIGTERM or SIGINT: the scheduler stops starting jobs; a job under way
finishes (an ingest stops after the feed in hand) and the clock exits 0,
well within the 25 seconds a platform gives.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import threading
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.cron import cron_trigger
from worker.errors import driver_words
from worker.now import process_now
from worker.schedule.due import (
    EPOCH,
    JOBS,
    PRUNE_EVERY,
    OneOffs,
    ingest_period,
    next_one_off,
    one_off_sends,
    sweep_period,
    upcoming,
)
from worker.schedule.jobs import run_due
from worker.schedule.locks import StoreLock
from worker.signals import Stop

# The stage's logger name, kept as operators search for it (docs/observability.md).
log = logging.getLogger("worker.clock")

LOCK_RETRY_SECONDS = 5.0
# A lost lock is also noticed at the start of every job; this check covers
# the quiet minutes between jobs.
LOCK_CHECK_SECONDS = 5
# How long a stopping clock waits for a job under way before leaving anyway
# (its transaction is rolled back; the state-driven jobs redo it).
STOP_WAIT_SECONDS = 20.0
# The date job at the next edition file's send_at (the module's docstring).
ONE_OFF_JOB = "one-off-send"
# UTC+14 (the sign of the Etc zones is POSIX's, reversed).
FIRST_ZONE = ZoneInfo("Etc/GMT-14")


@dataclass(frozen=True)
class ClockJob:
    """A job of the clock: its id, when it fires, and the due-logic's jobs
    it runs."""

    id: str
    trigger: BaseTrigger
    runs: tuple[str, ...]


def clock_jobs(settings: Settings) -> list[ClockJob]:
    """The clock's jobs, as :func:`worker.schedule.due.upcoming` describes them.

    The sweep also looks at the send: an edition approved or released
    after its send time (within the grace period) starts at the next sweep.
    """
    zone = settings.timezone

    def every(period: dt.timedelta) -> IntervalTrigger:
        # Slots counted from the epoch, as in worker.schedule.due.next_slot.
        return IntervalTrigger(seconds=period.total_seconds(), start_date=EPOCH, timezone=zone)

    return [
        ClockJob("ingest", every(ingest_period(settings)), ("ingest",)),
        ClockJob("build", cron_trigger(settings.digest_build_at, zone), ("build",)),
        ClockJob("send", cron_trigger(settings.digest_send_at, send_zone(settings)), ("send",)),
        ClockJob("retries", every(sweep_period(settings)), ("send", "retries")),
        ClockJob("prune", every(PRUNE_EVERY), ("prune",)),
    ]


def send_zone(settings: Settings) -> ZoneInfo:
    """The zone the send job's cron time is read in: DIGEST_TIMEZONE, or
    with DIGEST_SEND_LOCAL on, UTC+14, where each wall-clock time comes
    first (worker.schedule.due.edition_start)."""
    return FIRST_ZONE if settings.digest_send_local else settings.timezone


class Clock:
    """The clock process: waits for the lock, then schedules until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        lock_retry_seconds: float = LOCK_RETRY_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.lock_retry_seconds = lock_retry_seconds
        self.stop = Stop()
        self.lock = StoreLock(sessions.kw["bind"], "clock")
        # The scheduler in a thread of its own: the main thread waits on the
        # stop, the one wait a signal always wakes (worker.signals).
        self.scheduler = BackgroundScheduler(
            timezone=settings.timezone,
            executors={"default": ThreadPoolExecutor(4)},
        )
        self.lock_lost = False
        self._running = 0
        self._idle = threading.Condition()
        # A run missed by a stalled process is made once (coalesce) if still
        # within the grace period; either way the store decides what it does.
        self._options = {
            "replace_existing": True,
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(settings.misfire_grace_hours * 3600),
        }

    def run(self) -> int:
        """Wait for the lock, schedule until stopped; the exit status (1
        when the lock was lost, so that the platform starts a new clock)."""
        # APScheduler's own lines ("Running job …") every few minutes are
        # noise beside the jobs' events; its warnings (misfires) stay.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        if not self._wait_for_lock():
            return 0
        try:
            one_offs = self._add_jobs()
            runs = upcoming(self.settings, process_now(), one_offs)
            log.info(
                "clock started",
                extra={"next": "; ".join(f"{r.job} {r.at:%a %Y-%m-%d %H:%M %Z}" for r in runs)},
            )
            self.scheduler.start()
            try:
                self.stop.wait()
            finally:
                self.scheduler.shutdown(wait=False)
            self._wait_for_jobs()
        finally:
            self.lock.release()
        log.info("clock stopped")
        return 1 if self.lock_lost else 0

    def _wait_for_lock(self) -> bool:
        said = False
        while not self.stop.is_set():
            try:
                if self.lock.acquire():
                    if said:
                        log.warning("clock lock taken over: this clock now schedules")
                    return True
                reason = "another clock holds the lock"
            except SQLAlchemyError as error:
                reason = f"the database is unreachable: {driver_words(error)}"
            if said:
                # Each try, for whoever watches a deploy closely (LOG_LEVEL=DEBUG).
                log.debug("clock still waits", extra={"reason": reason})
            else:
                log.warning("clock waits", extra={"reason": reason})
                said = True
            self.stop.wait(self.lock_retry_seconds)
        return False

    def _add_jobs(self) -> OneOffs:
        """Add the clock's jobs; the weeks' one-off send times it read."""
        options = self._options
        for job in clock_jobs(self.settings):
            self.scheduler.add_job(
                self._run, job.trigger, args=[job.runs], id=job.id, name=job.id, **options
            )
        # Catch up at once on whatever came due while no clock ran.
        self.scheduler.add_job(self._catch_up, id="catch-up", name="catch-up", **options)
        self.scheduler.add_job(
            self._check_lock,
            IntervalTrigger(seconds=LOCK_CHECK_SECONDS),
            id="lock-check",
            name="lock-check",
            **options,
        )
        return self._plan_one_off()

    def _plan_one_off(self) -> OneOffs:
        """Keep the ``one-off-send`` job at the next one-off send time in
        the store (none: no such job); the one-off times it read."""
        with self.sessions() as session:
            one_offs = one_off_sends(session, self.settings)
        coming = next_one_off(process_now(), one_offs, self.settings)
        if coming is None:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(ONE_OFF_JOB)
            return one_offs
        at, week = coming
        self.scheduler.add_job(
            self._run,
            DateTrigger(at),
            args=[("send",)],
            id=ONE_OFF_JOB,
            name=f"{ONE_OFF_JOB} {week}",
            **self._options,
        )
        return one_offs

    def _run(self, runs: Collection[str]) -> None:
        with self._idle:
            self._running += 1
        try:
            # A clock that lost its lock may have a successor already: the
            # job is that one's to do.
            if self.stop.is_set() or not self._check_lock():
                return
            run_due(self.sessions, self.settings, process_now(), jobs=runs, stop=self.stop)
            try:
                self._plan_one_off()
            except SQLAlchemyError as error:  # the next job plans again
                log.error("job failed", extra={"job": "plan", "error": driver_words(error)})
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _catch_up(self) -> None:
        self._run(JOBS)
        log.info("clock caught up")

    def _check_lock(self) -> bool:
        """Whether the clock still holds its lock. One whose lock went with
        its database session (a server restart, a killed backend) may have a
        successor already: it stops, and exits 1."""
        if self.lock.alive():
            return True
        if not self.lock_lost:
            log.error("clock lock lost (its database session ended): stopping")
        self.lock_lost = True
        self.stop.set()
        return False

    def _wait_for_jobs(self) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._running == 0, STOP_WAIT_SECONDS):
                log.warning("clock stopping with a job under way; the next clock redoes it")

    @property
    def busy(self) -> bool:
        """True while a job is still under way (after a stop that did not
        wait for it)."""
        with self._idle:
            return self._running > 0

    def told(self, signum: signal.Signals, again: bool) -> None:
        """What a stop signal does, its stop set: say so; a second one
        leaves at once."""
        if again:
            os._exit(0)
        log.info("clock stopping", extra={"signal": signum.name})
