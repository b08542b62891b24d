"""What the clock runs and when: the schedule, and what is due now.

Five jobs: ``ingest`` (every ``INGEST_EVERY`` minutes), ``build`` (at
``DIGEST_BUILD_AT``), ``send`` (at ``DIGEST_SEND_AT``), ``retries`` (every
``RETRY_SWEEP_EVERY`` minutes) and ``prune`` (daily). Periodic jobs run on
slots counted from the Unix epoch (every 60 minutes: on the hour, UTC), so
the schedule is a pure function of the settings and the time.

An edition built at a moment covers the last complete ISO week before it
(the week before the one the moment falls in, in ``DIGEST_TIMEZONE``): the
Monday 18:00 build gathers the Monday–Sunday just ended, and Tuesday's send
sends it. A week is never built while its launches are still coming in.

The scheduler only says when to look. Whether a job does anything is decided
by the store: a build when the week's edition does not exist, a start when
it is ready (not held, approved if need be) and its send time has come
within ``MISFIRE_GRACE_HOURS``, an ingest when no fetch happened in the
current slot. A job run twice, late, or by two processes at once does its
work once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.config import Settings
from worker.deliver.editions import find_edition
from worker.domain.cron import cron_trigger, occurrences
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week, last_complete_week
from worker.store.models import FetchLog

JOBS = ("ingest", "build", "send", "retries", "prune")
PRUNE_EVERY = dt.timedelta(days=1)
# Interval slots (ingest, sweeps) count from here: the same marks for every process.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Due:
    """What the store says is due at a moment."""

    ingest: bool
    build: tuple[Week, ...]  # weeks whose edition is to be built (none exists)
    send: Week | None  # the week whose ready edition is to be started
    waiting: str | None = None  # why a send that is due waits (a hold, no approval)


@dataclass(frozen=True)
class ScheduledRun:
    """The next time a job of the clock runs, in ``DIGEST_TIMEZONE``.

    Compare ``at`` in UTC (``at.astimezone(UTC)``): a local time in a
    fall-back fold never compares equal to another zone's (PEP 495).
    """

    job: str
    at: dt.datetime


def upcoming(settings: Settings, now: dt.datetime) -> list[ScheduledRun]:
    """Each job's next run at or after ``now``, in ``DIGEST_TIMEZONE``,
    soonest first."""
    zone = settings.timezone
    runs = [
        ScheduledRun("ingest", next_slot(now, ingest_period(settings))),
        ScheduledRun("build", next_cron(settings.digest_build_at, settings, now)),
        ScheduledRun("send", next_cron(settings.digest_send_at, settings, now)),
        ScheduledRun("retries", next_slot(now, sweep_period(settings))),
        ScheduledRun("prune", next_slot(now, PRUNE_EVERY)),
    ]
    localised = [ScheduledRun(run.job, run.at.astimezone(zone)) for run in runs]
    return sorted(localised, key=lambda run: (run.at, JOBS.index(run.job)))


def ingest_period(settings: Settings) -> dt.timedelta:
    return dt.timedelta(minutes=settings.ingest_every)


def sweep_period(settings: Settings) -> dt.timedelta:
    return dt.timedelta(minutes=settings.retry_sweep_every)


def slot_start(now: dt.datetime, period: dt.timedelta) -> dt.datetime:
    """The start of the period-long slot (counted from the epoch) that
    ``now`` falls in."""
    return EPOCH + ((now - EPOCH) // period) * period


def next_slot(now: dt.datetime, period: dt.timedelta) -> dt.datetime:
    """The first slot start at or after ``now``."""
    start = slot_start(now, period)
    return start if start == now else start + period


def next_cron(spec: str, settings: Settings, now: dt.datetime) -> dt.datetime:
    """The first time of ``spec`` at or after ``now``."""
    trigger = cron_trigger(spec, settings.timezone)
    # A weekly time is at most a week (and a daylight-saving hour) away; a
    # crontab line naming a day of the month may be a year away.
    for horizon in (dt.timedelta(days=8), dt.timedelta(days=400 * 4)):
        found = next(occurrences(trigger, now, now + horizon), None)
        if found is not None:
            return found
    raise ValueError(f"{spec!r} never comes")


def last_cron(spec: str, settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """The latest time of ``spec`` at or before ``now`` and no more than
    ``MISFIRE_GRACE_HOURS`` before it: the run still due, if any."""
    trigger = cron_trigger(spec, settings.timezone)
    grace = dt.timedelta(hours=settings.misfire_grace_hours)
    latest = None
    for moment in occurrences(trigger, now - grace, now + dt.timedelta(microseconds=1)):
        latest = moment
    return latest


def build_week(settings: Settings, build_at: dt.datetime) -> Week:
    """The week an edition built at ``build_at`` covers: the last complete
    week before it."""
    return last_complete_week(build_at, settings.timezone)


def send_week(settings: Settings, send_at: dt.datetime) -> Week:
    """The week whose edition a send at ``send_at`` sends: the one built at
    the latest build time in the week before it (Tuesday's send, Monday's
    build: the Monday–Sunday before that Monday), else the last complete
    week before the send."""
    trigger = cron_trigger(settings.digest_build_at, settings.timezone)
    built = None
    window = send_at - dt.timedelta(days=7, hours=1)
    for moment in occurrences(trigger, window, send_at + dt.timedelta(microseconds=1)):
        built = moment
    return build_week(settings, built or send_at)


def coming_week(settings: Settings, now: dt.datetime) -> Week:
    """The edition an editor means without naming a week: the one whose
    send is due now (within the grace period), else the next send's."""
    send_at = last_cron(settings.digest_send_at, settings, now)
    return send_week(settings, send_at or next_cron(settings.digest_send_at, settings, now))


def due(session: Session, settings: Settings, now: dt.datetime) -> Due:
    """What is due at ``now``, by the schedule and the store's state.

    - ingest: when no feed was fetched since the current slot began;
    - build: the week a build time passed within ``MISFIRE_GRACE_HOURS``
      covers (the last complete week before it), and the week a send time
      passed within it sends, whose edition does not exist yet (a ready or
      skipped edition is kept: ``digest build`` refreshes it by hand);
    - send: the week of a send time passed within the grace period, whose
      edition is ready, not held, and approved if DIGEST_REQUIRE_APPROVAL.
    """
    weeks: list[Week] = []
    build_at = last_cron(settings.digest_build_at, settings, now)
    if build_at is not None:
        weeks.append(build_week(settings, build_at))
    send_at = last_cron(settings.digest_send_at, settings, now)
    if send_at is not None:
        weeks.append(send_week(settings, send_at))
    build = tuple(
        w for w in dict.fromkeys(weeks) if find_edition(session, settings.list_id, str(w)) is None
    )
    send, waiting = None, None
    if send_at is not None:
        week = send_week(settings, send_at)
        edition = find_edition(session, settings.list_id, str(week))
        if edition is not None and edition.status == EditionStatus.READY:
            if edition.held_at is not None:
                waiting = f"held by {edition.held_by} since {edition.held_at:%Y-%m-%d %H:%M} UTC"
            elif settings.digest_require_approval and edition.approved_at is None:
                waiting = "waiting for approval (digest approve)"
            else:
                send = week
    return Due(ingest_due(session, settings, now), build, send, waiting)


def ingest_due(session: Session, settings: Settings, now: dt.datetime) -> bool:
    """True when no feed has been fetched since the current ingest slot
    began (by the clock, a tick, or ``digest ingest``)."""
    last = session.scalar(select(func.max(FetchLog.fetched_at)))
    return last is None or last < slot_start(now, ingest_period(settings))
