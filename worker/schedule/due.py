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

A week's send time is the ``DIGEST_SEND_AT`` time that sends it, unless
its stored edition file gives a ``send_at``: then that one-off time, and
the week's regular time starts nothing (:func:`send_time`; the rule for a
``send_at``: :func:`send_at_problem`).

With ``DIGEST_SEND_LOCAL`` on, each reader gets the send's wall-clock
date and time in their own zone, and an edition starts when that time
first comes anywhere, at UTC+14 (:func:`edition_start`): the send job runs
then, and the send time itself still names the week and dates each
reader's delivery.

The scheduler only says when to look. Whether a job does anything is decided
by the store: a build when the week's edition does not exist, a start when
it is ready (not held, approved if need be) and its send time has come
within ``MISFIRE_GRACE_HOURS``, an ingest when no fetch happened in the
current slot. A job run twice, late, or by two processes at once does its
work once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.config import Settings
from worker.deliver.editions import find_edition
from worker.domain.cron import cron_trigger, occurrences
from worker.domain.mornings import EARLIEST_OFFSET, first_morning, wall_clock
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week, last_complete_week, parse_week
from worker.store.models import EditorCopy, FetchLog

JOBS = ("ingest", "build", "send", "retries", "prune")
PRUNE_EVERY = dt.timedelta(days=1)
# Interval slots (ingest, sweeps) count from here: the same marks for every process.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The furthest a cron time is looked for: a crontab line naming a day of the
# month may be years away (29 February).
LONGEST_WAIT = dt.timedelta(days=400 * 4)
# How long after an edition's start its send time can come with
# DIGEST_SEND_LOCAL: from UTC+14 to the westernmost zone, UTC-12.
LATEST_MORNING = EARLIEST_OFFSET + dt.timedelta(hours=12)

#: The weeks whose stored edition file gives a ``send_at``, and that time (UTC).
OneOffs = Mapping[Week, dt.datetime]
NO_ONE_OFFS: OneOffs = MappingProxyType({})


@dataclass(frozen=True)
class Due:
    """What the store says is due at a moment."""

    ingest: bool
    build: tuple[Week, ...]  # weeks whose edition is to be built (none exists)
    send: Week | None  # the week whose ready edition is to be started
    waiting: str | None = None  # why a send that is due waits (a hold, no approval)
    send_at: dt.datetime | None = None  # the send time of ``send`` (UTC)


@dataclass(frozen=True)
class ScheduledRun:
    """The next time a job of the clock runs, in ``DIGEST_TIMEZONE``.

    Compare ``at`` in UTC (``at.astimezone(UTC)``): a local time in a
    fall-back fold never compares equal to another zone's (PEP 495).
    """

    job: str
    at: dt.datetime
    #: The week whose edition file's ``send_at`` this send time is (None:
    #: the job's own schedule).
    edition_file: str | None = None


def upcoming(
    settings: Settings, now: dt.datetime, one_offs: OneOffs = NO_ONE_OFFS
) -> list[ScheduledRun]:
    """Each job's next run at or after ``now``, in ``DIGEST_TIMEZONE``,
    soonest first; the send's counts the weeks' ``one_offs``
    (:func:`one_off_sends`)."""
    zone = settings.timezone
    runs = [
        ScheduledRun("ingest", next_slot(now, ingest_period(settings))),
        ScheduledRun("build", next_cron(settings.digest_build_at, settings, now)),
        next_send(settings, now, one_offs),
        ScheduledRun("retries", next_slot(now, sweep_period(settings))),
        ScheduledRun("prune", next_slot(now, PRUNE_EVERY)),
    ]
    localised = [dataclasses.replace(run, at=run.at.astimezone(zone)) for run in runs]
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
    # A weekly time is at most a week (and a daylight-saving hour) away.
    for horizon in (dt.timedelta(days=8), LONGEST_WAIT):
        found = next(occurrences(trigger, now, now + horizon), None)
        if found is not None:
            return found
    raise ValueError(f"{spec!r} never comes")


def edition_start(settings: Settings, send_at: dt.datetime) -> dt.datetime:
    """When an edition whose send time is ``send_at`` starts, in UTC: then,
    or with DIGEST_SEND_LOCAL on, when the send's wall-clock time in
    DIGEST_TIMEZONE first comes anywhere (UTC+14)."""
    if not settings.digest_send_local:
        return send_at
    return first_morning(wall_clock(send_at, settings.timezone))


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


def one_off_sends(session: Session, settings: Settings) -> dict[Week, dt.datetime]:
    """The weeks whose stored edition file gives a ``send_at``, and that
    time (UTC). A list has one file a week: a few dozen rows a year."""
    rows = session.execute(
        select(EditorCopy.name, EditorCopy.send_at).where(
            EditorCopy.list_id == settings.list_id, EditorCopy.send_at.is_not(None)
        )
    )
    # Only an edition file, named by its week, has a send_at.
    return {parse_week(name): at for name, at in rows if at is not None}


def regular_send_time(settings: Settings, week: Week) -> dt.datetime | None:
    """The ``DIGEST_SEND_AT`` time that sends ``week``'s edition: the first
    after the week is over whose send week (:func:`send_week`) it is. None
    when the schedule never sends it (a build time that skips the week)."""
    trigger = cron_trigger(settings.digest_send_at, settings.timezone)
    over = week.bounds(settings.timezone)[1]
    for moment in occurrences(trigger, over, over + LONGEST_WAIT):
        sends = send_week(settings, moment)
        if sends == week:
            return moment
        if sends.monday > week.monday:
            return None
    return None


def send_time(settings: Settings, week: Week, one_off: dt.datetime | None) -> dt.datetime | None:
    """When the schedule starts ``week``'s edition: ``one_off``, the
    ``send_at`` of the week's edition file, when it has one, else its
    regular time (:func:`regular_send_time`)."""
    return one_off if one_off is not None else regular_send_time(settings, week)


def send_at_problem(settings: Settings, week: Week, send_at: dt.datetime) -> str | None:
    """Why ``send_at`` (aware) cannot be ``week``'s one-off send time, or None.

    An edition file's ``send_at`` is a wall-clock time in ``DIGEST_TIMEZONE``
    (``EditionFile.send_at_in(settings.timezone)``); a time the
    spring-forward change skips comes as far after it as it was meant to be
    into the missing hour, and a time the fall-back change repeats at its
    first pass, as the cron times do. It is refused

    - before the week is over: an edition built then would miss the week's
      last launches (a send_at before ``DIGEST_BUILD_AT`` is fine: the send
      builds the edition first); with DIGEST_SEND_LOCAL, when its start
      (:func:`edition_start`) is;
    - at or after the next week's regular send: editions go out in order,
      and one that late goes by hand (``digest send --week``).

    Whether it is in the past is for the caller to check: it needs the time.
    """
    zone = settings.timezone

    def shown(moment: dt.datetime) -> str:
        return f"{moment.astimezone(zone):%a %Y-%m-%d %H:%M}"

    over = week.bounds(zone)[1]
    if send_at < over:
        return (
            f"{shown(send_at)} is before {week} is over ({shown(over)}): the edition"
            " would miss the week's last launches"
        )
    start = edition_start(settings, send_at)
    if start < over:
        return (
            f"{shown(send_at)} starts at {shown(start)} with DIGEST_SEND_LOCAL (the first"
            f" reader's morning, at UTC+14), before {week} is over ({shown(over)}): the"
            " edition would miss the week's last launches"
        )
    after = week.next()
    after_at = regular_send_time(settings, after)
    if after_at is not None and send_at >= after_at:
        return (
            f"{shown(send_at)} is not before {after} is sent ({shown(after_at)}): editions"
            f" go out in order; send it by hand with digest send --week {week}"
        )
    return None


def next_send(settings: Settings, now: dt.datetime, one_offs: OneOffs) -> ScheduledRun:
    """The send job's next run at or after ``now``: a week's one-off time,
    or the next ``DIGEST_SEND_AT`` time of a week without one, whichever
    comes first."""
    at, week = _next_send(settings, now, one_offs)
    one_off = one_offs.get(week)
    moved = one_off is not None and edition_start(settings, one_off) == at
    return ScheduledRun("send", at, str(week) if moved else None)


def _next_send(settings: Settings, now: dt.datetime, one_offs: OneOffs) -> tuple[dt.datetime, Week]:
    """The next start at or after ``now`` (:func:`edition_start`) and its week."""
    spec = settings.digest_send_at
    regular = next_cron(spec, settings, now)
    week = send_week(settings, regular)
    # A send whose edition started already (its first morning passed) is
    # not the next one; nor is the regular time of a moved week.
    while edition_start(settings, regular) < now or week in one_offs:
        regular = next_cron(spec, settings, regular + dt.timedelta(microseconds=1))
        week = send_week(settings, regular)
    start = edition_start(settings, regular)
    one_off = next_one_off(now, one_offs, settings)
    return one_off if one_off is not None and one_off[0] < start else (start, week)


def next_one_off(
    now: dt.datetime, one_offs: OneOffs, settings: Settings
) -> tuple[dt.datetime, Week] | None:
    """The soonest start of a one-off send at or after ``now``
    (:func:`edition_start`), and its week."""
    starts = ((edition_start(settings, at), week) for week, at in one_offs.items())
    coming = [(start, week) for start, week in starts if start >= now]
    return min(coming, key=lambda send: send[0], default=None)


def sends_due(
    settings: Settings, now: dt.datetime, one_offs: OneOffs
) -> list[tuple[dt.datetime, Week]]:
    """The sends whose start (:func:`edition_start`) passed within
    ``MISFIRE_GRACE_HOURS`` of ``now``, soonest first, each as its send
    time and week: the latest ``DIGEST_SEND_AT`` time's, unless its week
    has a one-off time, and each one-off time's."""
    found = []
    regular = _last_regular_send(settings, now)
    if regular is not None and (week := send_week(settings, regular)) not in one_offs:
        found.append((regular, week))
    grace = dt.timedelta(hours=settings.misfire_grace_hours)
    found += [
        (at, week)
        for week, at in one_offs.items()
        if now - grace <= edition_start(settings, at) <= now
    ]
    return sorted(found, key=lambda send: send[0])


def _last_regular_send(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """The latest ``DIGEST_SEND_AT`` time whose start passed at or before
    ``now`` and within ``MISFIRE_GRACE_HOURS`` of it."""
    if not settings.digest_send_local:
        return last_cron(settings.digest_send_at, settings, now)
    # A start comes at most LATEST_MORNING before its send time.
    trigger = cron_trigger(settings.digest_send_at, settings.timezone)
    grace = dt.timedelta(hours=settings.misfire_grace_hours)
    latest = None
    for moment in occurrences(trigger, now - grace, now + LATEST_MORNING):
        if now - grace <= edition_start(settings, moment) <= now:
            latest = moment
    return latest


def coming_week(settings: Settings, now: dt.datetime, one_offs: OneOffs = NO_ONE_OFFS) -> Week:
    """The edition an editor means without naming a week: the one whose
    send is due now (within the grace period), else the next send's; the
    weeks' ``one_offs`` counted."""
    due_now = sends_due(settings, now, one_offs)
    return due_now[-1][1] if due_now else _next_send(settings, now, one_offs)[1]


def due(session: Session, settings: Settings, now: dt.datetime) -> Due:
    """What is due at ``now``, by the schedule and the store's state.

    - ingest: when no feed was fetched since the current slot began;
    - build: the week a build time passed within ``MISFIRE_GRACE_HOURS``
      covers (the last complete week before it), and each week whose send
      time (:func:`sends_due`) passed within it, whose edition does not
      exist yet (a ready or skipped edition is kept: ``digest build``
      refreshes it by hand);
    - send: of those weeks, the first whose edition is ready, not held,
      and approved if DIGEST_REQUIRE_APPROVAL.
    """
    sends = sends_due(settings, now, one_off_sends(session, settings))
    weeks = [week for _, week in sends]
    build_at = last_cron(settings.digest_build_at, settings, now)
    if build_at is not None:
        weeks.insert(0, build_week(settings, build_at))
    build = tuple(
        w for w in dict.fromkeys(weeks) if find_edition(session, settings.list_id, str(w)) is None
    )
    send, waiting, send_at = None, None, None
    for at, week in sends:
        edition = find_edition(session, settings.list_id, str(week))
        if edition is None or edition.status != EditionStatus.READY:
            continue
        if edition.held_at is not None:
            waiting = waiting or (
                f"held by {edition.held_by} since {edition.held_at:%Y-%m-%d %H:%M} UTC"
            )
        elif settings.digest_require_approval and edition.approved_at is None:
            waiting = waiting or "waiting for approval (digest approve)"
        else:
            send, send_at = week, at
            break
    return Due(ingest_due(session, settings, now), build, send, waiting, send_at)


def week_send_time(session: Session, settings: Settings, week: Week) -> dt.datetime | None:
    """``week``'s send time by the schedule (its edition file's ``send_at``,
    else its ``DIGEST_SEND_AT`` time), for an edition started by hand."""
    return send_time(settings, week, one_off_sends(session, settings).get(week))


def ingest_due(session: Session, settings: Settings, now: dt.datetime) -> bool:
    """True when no feed has been fetched since the current ingest slot
    began (by the clock, a tick, or ``digest ingest``)."""
    last = session.scalar(select(func.max(FetchLog.fetched_at)))
    return last is None or last < slot_start(now, ingest_period(settings))
