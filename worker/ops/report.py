"""``digest report``: what an edition did, without tracking a reader.

Per edition that went out: its deliveries (recipients, accepted, deferred,
failed, suppressed), what came back (bounces, complaints, unsubscribes,
votes) and the clicks on its links, per item (:mod:`worker.domain.clicks`);
and the same figures for the editions before it, for the trend.

Clicks are counted per edition and item when they happen (the redirect's
token names no reader). Unsubscribes, votes, bounces and complaints carry no
edition: each is attributed to the last edition *delivered to that
subscriber* before it happened (their ``sent_at`` and the act's time). An
unsubscribe from an older email in the inbox thus counts for the newer
edition, and so does a vote cast on the comparison page of the site.
docs/observability.md says so where the figures are explained.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.clicks import counted_links
from worker.domain.segments import EVERYONE
from worker.domain.states import DeliveryStatus
from worker.domain.suppression import IntakeKind
from worker.domain.weeks import Week
from worker.errors import DigestError
from worker.ops.overview import delivery_counts
from worker.store.models import (
    ClickCount,
    Comparison,
    Delivery,
    Edition,
    EditionSegment,
    IntakeEvent,
    Subscriber,
    Tool,
    Vote,
)

#: Editions in a report's trend (the one reported and those before it).
HISTORY = 12
#: Items named in the summary line of an edition.
TOP_ITEMS = 5


class NothingToReport(DigestError):
    """No edition of the list has gone out (for the week asked)."""


@dataclass(frozen=True)
class ItemClicks:
    """The clicks on one item of an edition."""

    item: str  # comparison:SLUG, tool:SLUG, launch:SLUG, intro:N
    label: str  # the comparison's title, the tool's name, an intro link's URL
    destination: str | None  # where its link went, as the edition's render says
    clicks: int

    @property
    def kind(self) -> str:
        return self.item.partition(":")[0]


@dataclass(frozen=True)
class EditionReport:
    """One edition's figures."""

    week: str
    status: str
    subject: str | None
    started_at: dt.datetime | None
    sent_at: dt.datetime | None
    recipients: int  # deliveries made when it started
    accepted: int  # accepted by the relay or service (sent)
    deferred: int
    failed: int
    suppressed: int  # skipped at send time: suppressed meanwhile
    bounced: int  # bounce reports (hard and soft) that came back
    complaints: int
    unsubscribes: int
    votes: int
    clicks: int
    items: tuple[ItemClicks, ...]  # most clicked first

    @property
    def click_rate(self) -> float | None:
        """Clicks per accepted message (a reader who clicks twice counts twice)."""
        return self.clicks / self.accepted if self.accepted else None

    @property
    def unsubscribe_rate(self) -> float | None:
        """Unsubscribes per accepted message."""
        return self.unsubscribes / self.accepted if self.accepted else None

    @property
    def top(self) -> tuple[ItemClicks, ...]:
        return self.items[:TOP_ITEMS]


@dataclass(frozen=True)
class Report:
    """The edition reported (``editions[0]``) and those before it, newest first."""

    list_name: str
    editions: tuple[EditionReport, ...]

    @property
    def edition(self) -> EditionReport:
        return self.editions[0]


def edition_report(
    sessions: sessionmaker[Session], settings: Settings, week: Week | None = None
) -> Report:
    """The report of ``week``'s edition (default: the latest that went out)
    and of up to :data:`HISTORY` − 1 editions before it. Raises
    :class:`NothingToReport`."""
    with sessions() as session:
        query = select(Edition).where(
            Edition.list_id == settings.list_id, Edition.started_at.is_not(None)
        )
        if week is not None:
            query = query.where(Edition.week <= str(week))
        editions = list(session.scalars(query.order_by(Edition.week.desc()).limit(HISTORY)))
        if not editions or (week is not None and editions[0].week != str(week)):
            raise NothingToReport(
                f"{week}: no edition of that week went out"
                if week is not None
                else "no edition has gone out yet",
                hint="digest status lists the editions and their state",
            )
        ids = [e.id for e in editions]
        since = min(e.started_at for e in editions if e.started_at is not None)
        counts = delivery_counts(session, ids)
        acts = {
            name: _attributed(session, events, settings.list_id)
            for name, events in _acts(since).items()
        }
        clicks = _clicks(session, ids)
        labels = _labels(session, {item for per in clicks.values() for item in per})
        destinations = {e.id: _destinations(session, e.id, settings.site_url) for e in editions}
    reports = []
    for e in editions:
        by_status = {status: counts.get((e.id, status), 0) for status in DeliveryStatus}
        items = sorted(
            (
                ItemClicks(
                    item,
                    labels.get(item) or destinations[e.id].get(item) or item,
                    destinations[e.id].get(item),
                    n,
                )
                for item, n in clicks.get(e.id, {}).items()
            ),
            key=lambda i: (-i.clicks, i.item),
        )
        reports.append(
            EditionReport(
                week=e.week,
                status=e.status,
                subject=e.subject,
                started_at=e.started_at,
                sent_at=e.sent_at,
                recipients=sum(by_status.values()),
                accepted=by_status[DeliveryStatus.SENT],
                deferred=by_status[DeliveryStatus.DEFERRED],
                failed=by_status[DeliveryStatus.FAILED],
                suppressed=by_status[DeliveryStatus.SUPPRESSED],
                bounced=acts["bounced"][e.id],
                complaints=acts["complaints"][e.id],
                unsubscribes=acts["unsubscribes"][e.id],
                votes=acts["votes"][e.id],
                clicks=sum(i.clicks for i in items),
                items=tuple(items),
            )
        )
    return Report(settings.list_name, tuple(reports))


def _acts(since: dt.datetime) -> dict[str, Select[tuple[int, dt.datetime]]]:
    """What readers did since ``since``, each as (subscriber id, when)."""
    bounces = (IntakeKind.HARD_BOUNCE, IntakeKind.SOFT_BOUNCE)

    def reports(kinds: tuple[IntakeKind, ...]) -> Select[tuple[int, dt.datetime]]:
        return (
            select(Subscriber.id, IntakeEvent.created_at)
            .join(Subscriber, Subscriber.email == IntakeEvent.email)
            .where(IntakeEvent.kind.in_(kinds), IntakeEvent.created_at >= since)
        )

    return {
        "unsubscribes": select(Subscriber.id, Subscriber.unsubscribed_at).where(
            Subscriber.unsubscribed_at >= since
        ),
        "votes": select(Vote.subscriber_id, Vote.created_at).where(Vote.created_at >= since),
        "bounced": reports(bounces),
        "complaints": reports((IntakeKind.COMPLAINT,)),
    }


def _attributed(
    session: Session, events: Select[tuple[int, dt.datetime]], list_id: str
) -> Counter[int]:
    """Edition id → how many of ``events`` (subscriber id, when) came after
    that edition was delivered to their subscriber and before the next one
    was: the last delivery sent to them before the act, in one statement."""
    acts = events.subquery()
    subscriber, at = acts.c
    last: ColumnElement[int] = (
        select(Delivery.edition_id)
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(
            Edition.list_id == list_id,
            Delivery.subscriber_id == subscriber,
            Delivery.sent_at <= at,
        )
        .order_by(Delivery.sent_at.desc())
        .limit(1)
        .correlate(acts)
        .scalar_subquery()
    )
    attributed = select(last.label("edition_id")).select_from(acts).subquery()
    rows = session.execute(
        select(attributed.c.edition_id, func.count())
        .where(attributed.c.edition_id.is_not(None))
        .group_by(attributed.c.edition_id)
    )
    return Counter({edition_id: count for edition_id, count in rows})


def _clicks(session: Session, edition_ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(ClickCount.edition_id, ClickCount.item, ClickCount.clicks).where(
            ClickCount.edition_id.in_(edition_ids)
        )
    )
    for edition_id, item, clicks in rows:
        found.setdefault(edition_id, {})[item] = clicks
    return found


def _labels(session: Session, items: set[str]) -> dict[str, str]:
    """The title or name of each comparison, tool and launch among ``items``."""
    slugs: dict[str, set[str]] = {}
    for item in items:
        kind, _, slug = item.partition(":")
        slugs.setdefault(kind, set()).add(slug)
    labels: dict[str, str] = {}
    comparisons = slugs.get("comparison", set())
    for slug, title in session.execute(
        select(Comparison.slug, Comparison.title).where(Comparison.slug.in_(comparisons))
    ):
        labels[f"comparison:{slug}"] = title
    tools = slugs.get("tool", set()) | slugs.get("launch", set())
    for slug, name in session.execute(select(Tool.slug, Tool.name).where(Tool.slug.in_(tools))):
        labels[f"tool:{slug}"] = labels[f"launch:{slug}"] = name
    return labels


def _destinations(session: Session, edition_id: int, site_url: str) -> dict[str, str]:
    """Where each counted link of an edition went, as its text part for
    every category says (the intro's links have no other name)."""
    text = session.scalar(
        select(EditionSegment.text)
        .where(EditionSegment.edition_id == edition_id)
        .order_by((EditionSegment.segment == EVERYONE).desc(), EditionSegment.id)
        .limit(1)
    )
    return counted_links(text or "", site_url)


def as_json(report: Report) -> str:
    """The report as one JSON document: ``list``, then ``editions``, the one
    reported first, each with its figures, rates and items (times ISO 8601)."""
    editions = []
    for edition in report.editions:
        figures = dataclasses.asdict(edition)
        figures["click_rate"] = edition.click_rate
        figures["unsubscribe_rate"] = edition.unsubscribe_rate
        for item in figures["items"]:
            item["kind"] = item["item"].partition(":")[0]
        editions.append(figures)
    document: dict[str, Any] = {"list": report.list_name, "editions": editions}
    return json.dumps(document, default=_iso, indent=2, ensure_ascii=False)


def _iso(value: object) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def percent(rate: float | None) -> str:
    """A rate as a person reads it: "2.4 %", "—" when there is none."""
    return "—" if rate is None else f"{rate * 100:.1f} %"


def tables(report: Report) -> list[Table | str]:
    """The report as lines and rich tables: the edition's figures, its top
    items, the clicks per item, and the trend. Text from editors and feeds
    (subjects, titles, names) is escaped: it may hold [markup]."""
    e = report.edition
    subject = f" · {escape(e.subject)}" if e.subject else ""
    lines = [
        f"[bold]{e.week}[/] ({e.status}){subject}",
        f"recipients {e.recipients:,} · accepted {e.accepted:,} · deferred {e.deferred:,} · "
        f"failed {e.failed:,} · suppressed {e.suppressed:,}",
        f"bounced {e.bounced:,} · complaints {e.complaints:,} · unsubscribes "
        f"{e.unsubscribes:,} ({percent(e.unsubscribe_rate)}) · votes {e.votes:,} · "
        f"clicks {e.clicks:,} ({percent(e.click_rate)} of accepted)",
    ]
    if e.top:
        named = "; ".join(f"{escape(i.label)} ({i.kind}) {i.clicks:,}" for i in e.top)
        lines.append(f"top items: {named}")
    return ["\n".join(lines), _items(e), _trend(report)]


def _items(e: EditionReport) -> Table:
    table = Table(
        "item",
        "title or link",
        Column("clicks", justify="right"),
        Column("share", justify="right"),
        title=f"Clicks by item, {e.week}",
        box=box.SIMPLE_HEAD,
    )
    for i in e.items:
        table.add_row(i.kind, escape(i.label), f"{i.clicks:,}", percent(i.clicks / e.clicks))
    if not e.items:
        table.add_row("(no clicks counted)")
    return table


def _trend(report: Report) -> Table:
    names = ("recipients", "accepted", "bounced", "complaints", "unsubscribes", "votes", "clicks")
    table = Table(
        "edition",
        *(Column(name, justify="right") for name in names),
        Column("unsub. rate", justify="right"),
        Column("click rate", justify="right"),
        title=(
            f"The last {len(report.editions)} editions"
            if len(report.editions) != 1
            else "The first edition"
        ),
        box=box.SIMPLE_HEAD,
    )
    for e in report.editions:
        table.add_row(
            e.week,
            *(f"{getattr(e, name):,}" for name in names),
            percent(e.unsubscribe_rate),
            percent(e.click_rate),
        )
    return table
