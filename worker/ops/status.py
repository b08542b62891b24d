"""``digest status``: the schedule, the last editions, the feeds and the mail
backend in one report, shown as tables for a person or as JSON for a script.

Times in the tables are local (``DIGEST_TIMEZONE``); in JSON every time is
ISO 8601 with its offset. The CLI prints a table as it is where it fits
the terminal, and as a line per row elsewhere (:mod:`worker.cli.tables`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.states import EditionStatus
from worker.ops.health import MailHealth, probe_mail
from worker.ops.overview import EditionSummary, FeedSummary, feed_summaries, recent_editions
from worker.ops.waves import Wave, edition_waves
from worker.schedule.due import ScheduledRun, one_off_sends, upcoming
from worker.store.models import Edition


@dataclass(frozen=True)
class StatusReport:
    """What ``digest status`` shows without ``--week``: the schedule, the
    latest editions, the feeds and the mail backend's health."""

    timezone: str
    now: dt.datetime
    schedule: list[ScheduledRun]
    editions: list[EditionSummary]
    feeds: list[FeedSummary]
    mail: MailHealth
    #: The waves of each edition sending (or paused) in each reader's
    #: morning, by week (DIGEST_SEND_LOCAL).
    waves: dict[str, list[Wave]] = dataclasses.field(default_factory=dict)


def status_report(
    sessions: sessionmaker[Session], settings: Settings, now: dt.datetime
) -> StatusReport:
    """Everything ``digest status`` shows, read at ``now``."""
    with sessions() as session:
        editions = recent_editions(session, settings.list_id)
        feeds = feed_summaries(session)
        one_offs = one_off_sends(session, settings)
        waves = sending_waves(session, settings)
    return StatusReport(
        timezone=settings.digest_timezone,
        now=now,
        schedule=upcoming(settings, now, one_offs),
        editions=editions,
        feeds=feeds,
        mail=probe_mail(settings.mail_url),
        waves=waves,
    )


def sending_waves(session: Session, settings: Settings) -> dict[str, list[Wave]]:
    """The waves of the list's editions sending or paused, by week; an
    edition whose deliveries are all due at once has none."""
    editions = session.scalars(
        select(Edition)
        .where(
            Edition.list_id == settings.list_id,
            Edition.status.in_((EditionStatus.SENDING, EditionStatus.PAUSED)),
        )
        .order_by(Edition.week)
    )
    found = {e.week: edition_waves(session, settings, e) for e in editions}
    return {week: waves for week, waves in found.items() if waves}


def as_json(report: StatusReport) -> str:
    """The report as one JSON document (times in ISO 8601)."""
    return json.dumps(dataclasses.asdict(report), default=_iso, indent=2, ensure_ascii=False)


def _iso(value: object) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def tables(report: StatusReport) -> list[Table | str]:
    """The report as rich tables (schedule, editions, feeds) and a line of
    markup (the mail backend). Text from feeds, editors and the backend is
    escaped: it may hold [markup]."""
    zone = ZoneInfo(report.timezone)
    return [
        _schedule(report, zone),
        _editions(report.editions, zone),
        *(waves_table(week, waves, zone) for week, waves in report.waves.items()),
        _feeds(report.feeds, zone),
        _mail(report.mail),
    ]


def waves_table(week: str, waves: list[Wave], zone: ZoneInfo) -> Table:
    """An edition's waves: per UTC offset, when it is due (in UTC and in
    DIGEST_TIMEZONE), how many deliveries it holds and how many were sent."""
    table = Table(
        "UTC offset",
        "due (UTC)",
        f"due ({zone.key})",
        Column("due", justify="right"),
        Column("sent", justify="right"),
        title=f"Waves of {week} (each reader's morning)",
        box=box.SIMPLE_HEAD,
    )
    for wave in waves:
        table.add_row(
            wave.utc_offset or "?",
            wave.due_at.astimezone(dt.UTC).strftime("%a %Y-%m-%d %H:%M"),
            wave.due_at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M"),
            str(wave.due),
            str(wave.sent),
        )
    return table


def _schedule(report: StatusReport, zone: ZoneInfo) -> Table:
    table = Table(
        "job", "next run", title=f"Schedule (times in {report.timezone})", box=box.SIMPLE_HEAD
    )
    for run in report.schedule:
        at = run.at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")
        if run.edition_file is not None:
            at += f" ({run.edition_file}, send_at of its edition file)"
        table.add_row(run.job, at)
    return table


def _editions(editions: list[EditionSummary], zone: ZoneInfo) -> Table:
    table = Table(
        "edition",
        "status",
        *(Column(name, justify="right") for name in _COUNTS),
        "started at",
        "sent at",
        "approved",
        "held",
        title="Editions",
        box=box.SIMPLE_HEAD,
    )
    for e in editions:
        table.add_row(
            e.week,
            e.status,
            *(str(getattr(e, name)) for name in _COUNTS),
            _local(e.started_at, zone),
            _local(e.sent_at, zone),
            _by(e.approved_by, e.approved_at, zone),
            _by(e.held_by, e.held_at, zone),
        )
    if not editions:
        table.add_row("(none yet)")
    return table


def _feeds(feeds: list[FeedSummary], zone: ZoneInfo) -> Table:
    table = Table(
        "feed",
        "last fetch",
        "HTTP",
        Column("errors", justify="right"),
        "last error",
        title="Feeds",
        box=box.SIMPLE_HEAD,
    )
    for f in feeds:
        table.add_row(
            escape(f.url) + ("" if f.active else " (inactive)"),
            _local(f.last_fetched_at, zone),
            str(f.last_status or "—"),
            str(f.error_count),
            escape(f.last_error or ""),
        )
    if not feeds:
        table.add_row("(none fetched yet)")
    return table


def _mail(mail: MailHealth) -> str:
    state = {True: "ok", False: "[bold red]failing[/]", None: "not checked"}[mail.ok]
    return f"[italic]Mail backend[/] {escape(mail.backend)}: {state}: {escape(mail.detail)}"


_COUNTS = ("queued", "sent", "deferred", "failed", "suppressed")


def _local(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _by(who: str | None, when: dt.datetime | None, zone: ZoneInfo) -> str:
    if when is None:
        return "—"
    return f"{escape(who or '?')}, {_local(when, zone)}"
