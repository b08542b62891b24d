"""What an operator reads about the store: recent editions with their counts,
feeds with their last error, and the figures of ``/metrics``.

Plain queries into plain dataclasses; ``digest status`` and the web app's
``/metrics`` only format them. Each figure is one aggregate statement: the
delivery table holds a million rows per edition, so nothing here reads it
row by row, and the due retries are found through the partial index
``ix_delivery_deferred``, which holds only the deferred deliveries.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from worker.config import redact_url
from worker.domain.states import DeliveryStatus, EditionStatus, SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.store import store_now
from worker.store.models import Delivery, Edition, Feed, Subscriber, Suppression

RECENT_EDITIONS = 5
# Editions whose deliveries may still change.
IN_MOTION = (EditionStatus.SENDING, EditionStatus.PAUSED)


@dataclass(frozen=True)
class EditionSummary:
    """One edition, its deliveries by state, and who approved or held it."""

    week: str
    status: str
    subject: str | None
    queued: int
    sent: int
    deferred: int
    failed: int
    suppressed: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    sent_at: dt.datetime | None
    approved_at: dt.datetime | None
    approved_by: str | None
    held_at: dt.datetime | None
    held_by: str | None


@dataclass(frozen=True)
class FeedSummary:
    """A feed's last fetch and its error, if the last one failed."""

    url: str  # with any password masked
    title: str | None
    active: bool
    last_fetched_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    error_count: int


@dataclass(frozen=True)
class Metrics:
    """The figures of ``/metrics``, read at ``now`` (the store's clock)."""

    now: dt.datetime
    #: (edition week, delivery status) → deliveries of the editions sending
    #: or paused (see :func:`current_editions`); every status is present.
    deliveries: dict[tuple[str, str], int]
    queue_depth: int  # queued and due, and deferred and due, of sending editions
    lag_seconds: float  # how long the oldest due delivery has waited
    editions: dict[str, int]  # status → editions of the list
    last_ingest: dt.datetime | None  # the latest fetch of any feed
    feeds_in_error: int  # active feeds whose last fetch failed
    subscribers: dict[str, int]  # status → subscribers
    suppressions: dict[str, int]  # reason → suppressed addresses


def recent_editions(
    session: Session, list_id: str, limit: int = RECENT_EDITIONS
) -> list[EditionSummary]:
    """The list's latest ``limit`` editions, newest week first, each with
    its deliveries counted by state (one GROUP BY for all of them)."""
    editions = list(
        session.scalars(
            select(Edition)
            .where(Edition.list_id == list_id)
            .order_by(Edition.week.desc())
            .limit(limit)
        )
    )
    counts = delivery_counts(session, [e.id for e in editions])
    return [
        EditionSummary(
            week=e.week,
            status=e.status,
            subject=e.subject,
            queued=counts.get((e.id, DeliveryStatus.QUEUED), 0),
            sent=counts.get((e.id, DeliveryStatus.SENT), 0),
            deferred=counts.get((e.id, DeliveryStatus.DEFERRED), 0),
            failed=counts.get((e.id, DeliveryStatus.FAILED), 0),
            suppressed=counts.get((e.id, DeliveryStatus.SUPPRESSED), 0),
            created_at=e.created_at,
            started_at=e.started_at,
            sent_at=e.sent_at,
            approved_at=e.approved_at,
            approved_by=e.approved_by,
            held_at=e.held_at,
            held_by=e.held_by,
        )
        for e in editions
    ]


def feed_summaries(session: Session) -> list[FeedSummary]:
    """Every feed the store knows, failing ones first, then by URL."""
    feeds = session.scalars(select(Feed).order_by(Feed.error_count.desc(), Feed.url))
    return [
        FeedSummary(
            url=redact_url(f.url),
            title=f.title,
            active=f.active,
            last_fetched_at=f.last_fetched_at,
            last_status=f.last_status,
            last_error=f.last_error,
            error_count=f.error_count,
        )
        for f in feeds
    ]


def current_editions(session: Session, list_id: str) -> list[Edition]:
    """The editions whose deliveries ``/metrics`` counts: those sending or
    paused, whose figures move. A finished edition's are left to
    ``digest status``: counting a million deliveries costs a few hundred
    milliseconds, which a scrape every few seconds should not pay all week."""
    return list(
        session.scalars(
            select(Edition)
            .where(Edition.list_id == list_id, Edition.status.in_(IN_MOTION))
            .order_by(Edition.week)
        )
    )


def read_metrics(session: Session, list_id: str) -> Metrics:
    """Every figure of ``/metrics``, each one aggregate query."""
    now = store_now(session)
    current = current_editions(session, list_id)
    counts = delivery_counts(session, [e.id for e in current])
    deliveries = {
        (e.week, status.value): counts.get((e.id, status), 0)
        for e in current
        for status in DeliveryStatus
    }
    sending = [e for e in current if e.status == EditionStatus.SENDING]
    depth, oldest = _queue(session, sending, counts, now)
    in_error = select(func.count()).where(Feed.active, Feed.error_count > 0)
    return Metrics(
        now=now,
        deliveries=deliveries,
        queue_depth=depth,
        lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        editions=_by(session, Edition.status, EditionStatus, Edition.list_id == list_id),
        last_ingest=session.scalar(select(func.max(Feed.last_fetched_at))),
        feeds_in_error=session.scalar(in_error) or 0,
        subscribers=_by(session, Subscriber.status, SubscriberStatus),
        suppressions=_by(session, Suppression.reason, SuppressionReason),
    )


def delivery_counts(session: Session, edition_ids: list[int]) -> dict[tuple[int, str], int]:
    """(edition id, delivery status) → deliveries, for ``edition_ids``, in
    one GROUP BY; a status an edition has none of is missing."""
    if not edition_ids:
        return {}
    rows = session.execute(
        select(Delivery.edition_id, Delivery.status, func.count())
        .where(Delivery.edition_id.in_(edition_ids))
        .group_by(Delivery.edition_id, Delivery.status)
    )
    return {(edition_id, status): count for edition_id, status, count in rows}


def _queue(
    session: Session,
    sending: list[Edition],
    counts: dict[tuple[int, str], int],
    now: dt.datetime,
) -> tuple[int, dt.datetime | None]:
    """What workers can claim now from ``sending`` editions, and since when
    the oldest of it has been due: an undated queued delivery since its
    edition started, a dated one (each reader's morning) since its due
    time, a deferred one since its next attempt came due. ``counts`` has
    the queued ones already; the dated ones and the due retries are a
    statement each per edition in the shape of their partial indexes
    (``ix_delivery_due``, ``ix_delivery_deferred``)."""
    depth = 0
    due_since: list[dt.datetime] = []
    for edition in sending:
        queued = counts.get((edition.id, DeliveryStatus.QUEUED), 0)
        deferred, first_due = session.execute(
            select(func.count(), func.min(Delivery.next_attempt_at)).where(
                Delivery.edition_id == edition.id,
                Delivery.status == DeliveryStatus.DEFERRED,
                Delivery.next_attempt_at <= now,
            )
        ).one()
        is_due = Delivery.due_at <= now
        dated = session.execute(
            select(is_due, func.count(), func.min(Delivery.due_at))
            .where(
                Delivery.edition_id == edition.id,
                Delivery.status == DeliveryStatus.QUEUED,
                Delivery.due_at.is_not(None),
            )
            .group_by(is_due)
        ).all()
        # Waves still to come are not claimable: neither depth nor lag.
        waiting = sum(count for due, count, _ in dated if not due)
        undated = queued - sum(count for _, count, _ in dated)
        depth += queued - waiting + deferred
        if undated and edition.started_at is not None:
            due_since.append(edition.started_at)
        due_since += [first for due, _, first in dated if due and first is not None]
        if first_due is not None:
            due_since.append(first_due)
    return depth, min(due_since, default=None)


def _by(
    session: Session,
    column: InstrumentedAttribute[str],
    values: type[enum.StrEnum],
    *where: ColumnElement[bool],
) -> dict[str, int]:
    """Rows counted by ``column``, with a zero for each of ``values`` not found."""
    rows = session.execute(select(column, func.count()).where(*where).group_by(column))
    found = {str(value): count for value, count in rows}
    return {v.value: 0 for v in values} | found
