"""Claims: the deliveries of sending editions, leased to a worker in batches.

The lease lifecycle, one verb per step (each runs in the caller's session:
the runner decides which steps share a transaction)::

               claim                             record (worker.deliver.results)
    free ─────────────────▶ leased to a worker ─────────────────▶ sent, failed, or deferred
     ▲                      until the store's                    (free again once its
     │                      now + lease_seconds                  retry is due)
     │                        │  ▲
     │                        │  └─ renew: while its batch goes out, every third of
     │                        │     lease_seconds, the lease starts afresh
     ├─── release ◀───────────┤     handed back unsent, no attempt counted
     └─── the lease runs out ◀┘     its worker died: claimed again, the only way a
                                    recipient can get a second copy

Free: queued and due (no due time, or one that has come: each reader's
morning with DIGEST_SEND_LOCAL), or deferred and due, with no lease or one
that ran out. A claim takes from the first sending edition (by id) that has
free deliveries: its due retries first, then its dated deliveries that are
due (earliest first), then its queue in id order from where the worker
left it (its :data:`Cursor`), with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (any number of workers share one
edition) and one atomic ``UPDATE`` on SQLite. :func:`claimed_batch` reads a
claimed batch's recipients as they are at that moment: deliveries whose
subscriber left or was suppressed meanwhile become suppressed, and those of
an edition paused or cancelled meanwhile are released.

Leases are measured by the store's clock (``store_now``), which every
machine sharing the store reads alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from worker.compose.message import Recipient
from worker.config import Settings
from worker.domain.states import DeliveryStatus, EditionStatus
from worker.now import process_now
from worker.store import store_now
from worker.store.models import (
    Delivery,
    Edition,
    Subscriber,
    receiving,
)

__all__ = [
    "Batch",
    "Claimed",
    "Cursor",
    "claim",
    "claimed_batch",
    "next_due",
    "release",
    "renew",
]

#: Where a worker is in each sending edition's queue: the highest delivery id
#: it has claimed there. Claims go on from it (keyset, as listmonk does)
#: rather than reading past every delivery already sent.
Cursor = dict[int, int]


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery with what sending it takes."""

    delivery_id: int
    edition_id: int
    week: str
    started_at: dt.datetime | None
    segment_id: int
    attempts: int
    recipient: Recipient


@dataclass(frozen=True)
class Batch:
    """A claimed batch as read: the deliveries to send, and how many claimed
    deliveries were suppressed instead (their subscriber left or was
    suppressed while the edition was sending)."""

    deliveries: list[Claimed] = field(default_factory=list)
    suppressed: int = 0


def claim(
    session: Session,
    worker_id: str,
    settings: Settings,
    *,
    edition_id: int | None = None,
    cursor: Cursor | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Claim up to ``batch_size`` free deliveries of the first sending edition
    that has any (only of ``edition_id``, if given) for ``worker_id``; their ids.

    A worker passes its ``cursor``, which the claim moves on. ``now`` is the
    store's clock unless given.
    """
    now = now or store_now(session)
    cursor = {} if cursor is None else cursor
    for sending in session.scalars(_sending_editions(edition_id)).all():
        ids = _claim_in_edition(session, sending, worker_id, settings, now, cursor)
        if ids:
            return ids
    return []


def renew(session: Session, worker_id: str, ids: Sequence[int], settings: Settings) -> list[int]:
    """Start afresh the leases ``worker_id`` still holds on ``ids`` (a batch
    going out slowly, at a rate limit or through a stalling relay, stays its
    own); the ids still held. Any whose lease ran out and that another worker
    claimed are left out."""
    return list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
            .values(lease_expires_at=_lease_end(store_now(session), settings))
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def release(session: Session, worker_id: str, ids: Sequence[int]) -> None:
    """Release the deliveries ``ids`` that ``worker_id`` holds: handed back
    unsent (no attempt counted), free for the next claim."""
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


def claimed_batch(session: Session, worker_id: str, ids: Sequence[int]) -> Batch:
    """The deliveries ``ids`` that ``worker_id`` holds, with their recipients
    as they are now: those whose subscriber left or was suppressed are marked
    suppressed, those of an edition paused or cancelled since are released."""
    if not ids:
        return Batch()
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.edition_id,
            Edition.week,
            Edition.started_at,
            Delivery.segment_id,
            Delivery.attempts,
            Subscriber.id.label("subscriber_id"),
            Subscriber.email,
            Subscriber.name,
            receiving(process_now()).label("receiving"),
            (Edition.status == EditionStatus.SENDING).label("sending"),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
        .order_by(Delivery.id)
    ).all()
    deliveries = [
        Claimed(
            row.id,
            row.edition_id,
            row.week,
            row.started_at,
            row.segment_id,
            row.attempts,
            Recipient(row.subscriber_id, row.email, row.name),
        )
        for row in rows
        if row.receiving and row.sending
    ]
    gone = [row.id for row in rows if row.sending and not row.receiving]
    stopped = [row.id for row in rows if not row.sending]
    if gone:
        _suppress_deliveries(session, gone)
    if stopped:
        release(session, worker_id, stopped)
    return Batch(deliveries, len(gone))


def _sending_editions(edition_id: int | None) -> Select[tuple[int]]:
    editions = select(Edition.id).where(Edition.status == EditionStatus.SENDING)
    if edition_id is not None:
        editions = editions.where(Edition.id == edition_id)
    return editions.order_by(Edition.id)


def _claim_in_edition(
    session: Session,
    edition_id: int,
    worker_id: str,
    settings: Settings,
    now: dt.datetime,
    cursor: Cursor,
) -> list[int]:
    # Retries that are due first, then the dated deliveries that are due
    # (each reader's morning), then the queue in id order from where this
    # worker left it; at its end, once more from the start, for what was
    # released or whose lease ran out behind the cursor.
    ids = _claim_free(session, edition_id, DeliveryStatus.DEFERRED, worker_id, settings, now)
    if len(ids) < settings.batch_size:
        ids += _claim_dated(
            session, edition_id, worker_id, settings, now, settings.batch_size - len(ids)
        )
    queued: list[int] = []
    for after in dict.fromkeys((cursor.get(edition_id, 0), 0)):
        left = settings.batch_size - len(ids) - len(queued)
        if left > 0:
            queued += _claim_free(
                session, edition_id, DeliveryStatus.QUEUED, worker_id, settings, now, left, after
            )
    if queued:
        cursor[edition_id] = max(queued)
    return ids + queued


def _claim_free(
    session: Session,
    edition_id: int,
    status: DeliveryStatus,
    worker_id: str,
    settings: Settings,
    now: dt.datetime,
    limit: int | None = None,
    after: int = 0,
) -> list[int]:
    """Claim up to ``limit`` free deliveries of one edition in one state,
    queued ones from id ``after`` on.

    The scan stops after the batch instead of reading (and sorting) the whole
    rest of the queue, and starts past what this worker already took instead
    of reading every delivery sent so far: a claim costs the same at the last
    batch of a million as at the first, whichever index the planner picks.
    """
    # Each order is its partial index's own (ix_delivery_queued,
    # ix_delivery_deferred): the most overdue retries, then the queue by id.
    order = Delivery.next_attempt_at if status == DeliveryStatus.DEFERRED else Delivery.id
    due = (
        select(Delivery.id)
        .where(
            Delivery.edition_id == edition_id,
            Delivery.status == status,
            or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
        )
        .order_by(order)
        .limit(limit or settings.batch_size)
    )
    if status == DeliveryStatus.DEFERRED:
        due = due.where(Delivery.next_attempt_at <= now)
    else:
        # Only the undated queue is in ix_delivery_queued (migration 0012).
        due = due.where(Delivery.due_at.is_(None))
        if after:
            due = due.where(Delivery.id > after)
    return _lease(session, due, worker_id, settings, now)


def _claim_dated(
    session: Session,
    edition_id: int,
    worker_id: str,
    settings: Settings,
    now: dt.datetime,
    limit: int,
) -> list[int]:
    """Claim up to ``limit`` free queued deliveries of one edition whose due
    time has come, the earliest first.

    ``ix_delivery_due`` holds the dated queue by (due time, id): the range
    ``due_at <= now`` is all a claim reads, so the waves still to come cost
    nothing however many they hold. No cursor: a wave's sent deliveries
    leave the index's live range as they are sent.
    """
    due = (
        select(Delivery.id)
        .where(
            Delivery.edition_id == edition_id,
            Delivery.status == DeliveryStatus.QUEUED,
            Delivery.due_at.is_not(None),
            Delivery.due_at <= now,
            or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
        )
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    return _lease(session, due, worker_id, settings, now)


def _lease(
    session: Session, due: Select[tuple[int]], worker_id: str, settings: Settings, now: dt.datetime
) -> list[int]:
    """Lease the deliveries ``due`` selects to ``worker_id``; their ids."""
    if session.get_bind().dialect.name == "postgresql":
        # Other workers' batches are locked: take the next free rows.
        due = due.with_for_update(skip_locked=True)
    return list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()))
            .values(lease_owner=worker_id, lease_expires_at=_lease_end(now, settings))
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def next_due(session: Session, edition_id: int | None = None) -> dt.timedelta | None:
    """How long, by the store's clock, until the earliest due time still to
    come of a queued delivery of a sending edition (of ``edition_id``, if
    given): when an idle worker has work again; None when no such wave is
    left. One probe per edition on ``ix_delivery_due``."""
    now = store_now(session)
    times = [
        session.scalar(
            select(Delivery.due_at)
            .where(
                Delivery.edition_id == edition_id,
                Delivery.status == DeliveryStatus.QUEUED,
                Delivery.due_at.is_not(None),
                Delivery.due_at > now,
            )
            .order_by(Delivery.due_at)
            .limit(1)
        )
        for edition_id in session.scalars(_sending_editions(edition_id)).all()
    ]
    coming = min((t for t in times if t is not None), default=None)
    return None if coming is None else coming - now


def _lease_end(now: dt.datetime, settings: Settings) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.lease_seconds)


def _suppress_deliveries(session: Session, ids: Sequence[int]) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(status=DeliveryStatus.SUPPRESSED, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
