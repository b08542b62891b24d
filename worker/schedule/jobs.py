"""The clock's jobs, done when the store says they are due.

:func:`run_due` is what every job of ``digest clock`` and every ``digest
tick`` calls: it asks :func:`worker.schedule.due` and does what is due,
each step so that two processes doing it at once do it once:

- ingest and build each run under a lock of their own (an advisory lock on
  PostgreSQL, a lock file on SQLite), and look again once they hold it;
- a start is a conditional ``UPDATE`` of the edition (ready → sending);
- deliveries are claimed with ``FOR UPDATE SKIP LOCKED``;
- the sweep and the pruning are idempotent.

:func:`tick` adds the sending: the clock leaves it to ``digest worker``
processes, cron mode has none, so a tick sends until nothing is due.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.deliver.editions import (
    BuildResult,
    Counts,
    EditionStateError,
    build_edition,
    start_edition,
)
from worker.deliver.results import finish_if_done
from worker.deliver.runner import Worker
from worker.deliver.webhooks import WebhookReport, deliver_webhooks, prune_webhooks
from worker.domain.states import EditionStatus
from worker.errors import DigestError, driver_words
from worker.ingest.feeds import configured_feeds
from worker.ingest.runner import IngestReport, ingest_feeds
from worker.mail.base import MailBackend
from worker.render.renderer import Renderer
from worker.schedule.due import JOBS, due, ingest_due
from worker.schedule.locks import try_lock
from worker.store.models import Edition, FetchLog

# The stage's logger name, kept as operators search for it (docs/observability.md).
log = logging.getLogger("worker.schedule")


@dataclass
class DueReport:
    """What one run of the due-logic did."""

    ingested: IngestReport | None = None
    built: list[BuildResult] = field(default_factory=list)
    started: Counts | None = None  # the edition this run moved ready → sending
    waiting: str | None = None  # a due send that waits, and why
    finished: list[str] = field(default_factory=list)  # weeks found all sent
    pruned: int = 0
    sent: int = 0  # messages a tick sent
    webhooks: WebhookReport | None = None  # what a tick's webhooks came to
    failed: list[str] = field(default_factory=list)  # "job: reason", one per failed job


def run_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    *,
    jobs: Collection[str] = JOBS,
    stop: threading.Event | None = None,
) -> DueReport:
    """Do what is due at ``now`` among ``jobs`` (ingest, build, send,
    retries, prune), in the flow's order. A job that fails is logged and
    reported; the others still run."""
    report = DueReport()
    steps: dict[str, Callable[[], None]] = {
        "ingest": lambda: _ingest(sessions, settings, now, report, stop),
        "build": lambda: _build(sessions, settings, now, report),
        "send": lambda: _start(sessions, settings, now, report),
        "retries": lambda: _sweep(sessions, report),
        "prune": lambda: _prune(sessions, settings, now, report),
    }
    for job in JOBS:
        if job not in jobs or (stop is not None and stop.is_set()):
            continue
        try:
            steps[job]()
        except Exception as error:  # one job's failure must not stop the others
            reason = driver_words(error)
            log.error("job failed", extra={"job": job, "error": reason})
            report.failed.append(f"{job}: {reason}")
    return report


def tick(
    sessions: sessionmaker[Session],
    settings: Settings,
    backend: MailBackend,
    now: dt.datetime,
    *,
    stop: threading.Event | None = None,
) -> DueReport:
    """Cron mode: do what is due, then send every delivery that is due
    (the week's new ones and retries whose time has come) and return."""
    report = run_due(sessions, settings, now, stop=stop)
    _webhooks(sessions, settings, report, stop)
    with sessions() as session:
        sending = session.scalar(
            select(Edition.id).where(Edition.status == EditionStatus.SENDING).limit(1)
        )
    if sending is None or (stop is not None and stop.is_set()):
        return report
    # One tick sends at a time: under cron a long send would otherwise gain
    # a sender every minute, each with its own connections. A tick killed
    # mid-send frees the lock; the next one takes over its leased batches
    # when their leases run out.
    with try_lock(_engine(sessions), "tick-send") as mine:
        if not mine:
            log.info("send skipped: another tick is sending")
            return report
        name = f"tick:{socket.gethostname()}:{os.getpid()}"
        worker = Worker(sessions, settings, backend, name, stop=stop)
        try:
            report.sent = worker.run(until_idle=True).sent
        except DigestError as error:
            log.error("job failed", extra={"job": "send", "error": str(error)})
            report.failed.append(f"send: {error}")
    # The worker finished the editions it emptied; one whose last retries
    # failed meanwhile is caught by the sweep.
    _sweep(sessions, report)
    return report


def _ingest(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    report: DueReport,
    stop: threading.Event | None,
) -> None:
    with try_lock(_engine(sessions), "ingest") as mine:
        if not mine:
            log.info("ingest skipped: another process is ingesting")
            return
        with sessions() as session:
            if not ingest_due(session, settings, now):
                return
        specs = configured_feeds(settings)
        if not specs:
            log.debug("ingest skipped: no feeds configured")
            return
        # A clock told to stop starts no further feed, and finishes those in hand.
        report.ingested = ingest_feeds(sessions, specs, settings, now=now, stop=stop)
        log.info(
            "ingested",
            extra={
                "feeds": len(report.ingested.feeds),
                "new": report.ingested.new,
                "errors": report.ingested.errors,
            },
        )


def _build(
    sessions: sessionmaker[Session], settings: Settings, now: dt.datetime, report: DueReport
) -> None:
    with sessions() as session:
        weeks = due(session, settings, now).build
    if not weeks:
        return
    with try_lock(_engine(sessions), "build") as mine:
        if not mine:
            log.info("build skipped: another process is building")
            return
        for week in weeks:
            # Under the lock, look again: another process may have built it.
            with sessions() as session:
                if week not in due(session, settings, now).build:
                    continue
            report.built.append(
                build_edition(sessions, week, settings, Renderer(settings.templates_dir))
            )


def _start(
    sessions: sessionmaker[Session], settings: Settings, now: dt.datetime, report: DueReport
) -> None:
    with sessions() as session:
        found = due(session, settings, now)
    if found.build:
        # The week's send is due but its edition was never built (the
        # clock was down at build time): build it first, as `digest send` does.
        _build(sessions, settings, now, report)
        with sessions() as session:
            found = due(session, settings, now)
    if found.waiting:
        report.waiting = found.waiting
        log.info("send waits", extra={"reason": found.waiting})
    if found.send is None:
        return
    try:
        counts = start_edition(
            sessions,
            found.send,
            settings,
            approved_only=settings.digest_require_approval,
            send_at=found.send_at,
        )
    except EditionStateError as error:
        # Held between the look and the start.
        report.waiting = str(error)
        return
    if counts.started:
        report.started = counts


def _sweep(sessions: sessionmaker[Session], report: DueReport) -> None:
    """Mark sent the sending editions with nothing left to send (their last
    deliveries failed or were suppressed while no worker was looking)."""
    with sessions() as session:
        sending = session.execute(
            select(Edition.id, Edition.week).where(Edition.status == EditionStatus.SENDING)
        ).all()
    for edition_id, week in sending:
        if finish_if_done(sessions, edition_id):
            log.info("edition sent", extra={"edition": week})
            report.finished.append(week)


def _webhooks(
    sessions: sessionmaker[Session],
    settings: Settings,
    report: DueReport,
    stop: threading.Event | None,
) -> None:
    """Cron mode has no worker to send webhooks: a tick sends those due."""
    try:
        name = f"tick:{socket.gethostname()}:{os.getpid()}"
        report.webhooks = deliver_webhooks(sessions, settings, name, stop=stop)
    except Exception as error:  # the tick's other work goes on
        log.error("job failed", extra={"job": "webhooks", "error": driver_words(error)})
        report.failed.append(f"webhooks: {driver_words(error)}")


def _prune(
    sessions: sessionmaker[Session], settings: Settings, now: dt.datetime, report: DueReport
) -> None:
    cutoff = now - dt.timedelta(days=settings.fetch_log_days)
    with sessions.begin() as session:
        result = session.execute(
            delete(FetchLog)
            .where(FetchLog.fetched_at < cutoff)
            .execution_options(synchronize_session=False)
        )
        report.pruned = result.rowcount
    if report.pruned:
        log.info("fetch log pruned", extra={"rows": report.pruned})
    pruned = prune_webhooks(sessions, now)
    if pruned:
        log.info("webhook events pruned", extra={"rows": pruned})


def _engine(sessions: sessionmaker[Session]) -> Engine:
    bind = sessions.kw["bind"]
    assert isinstance(bind, Engine)
    return bind
