"""Claims: deliveries leased to a worker in batches.

A worker claims the lowest pending deliveries of a sending edition
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share
one edition; one atomic ``UPDATE`` on SQLite) and leases them for
``lease_seconds``. A worker killed mid-batch leaves a lease that expires;
the batch is then claimed again (the only way a recipient can get a second
copy). Subscribers who left or were suppressed while the edition was
sending are skipped from the next claimed batch on.

Leases are measured by the store's clock (``store_now``), which every
machine sharing the store reads alike.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

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

log = logging.getLogger("worker.deliver")


#: Where a worker is in each sending edition's queue: the highest delivery id
#: it has leased there. Claims go on from it (keyset, as listmonk does)
#: rather than reading past every delivery already sent.
Cursor = dict[int, int]


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    edition_id: int
    week: str
    started_at: dt.datetime | None
    segment_id: int
    attempts: int
    recipient: Recipient


def claim_batch(
    sessions: sessionmaker[Session],
    worker_id: str,
    settings: Settings,
    *,
    edition_id: int | None = None,
    now: dt.datetime | None = None,
    cursor: Cursor | None = None,
) -> tuple[list[Claimed], int]:
    """Lease the next pending deliveries of a sending edition to ``worker_id``.

    Returns the deliveries to send, and how many claimed deliveries were
    suppressed instead (their subscriber left or was suppressed meanwhile).
    A worker passes its ``cursor`` (see :data:`Cursor`).
    """
    with sessions.begin() as session:
        ids = _lease_next(session, worker_id, settings, edition_id, now, cursor)
        return _recipients(session, worker_id, ids) if ids else ([], 0)


def lease_batch(
    sessions: sessionmaker[Session],
    worker_id: str,
    settings: Settings,
    *,
    edition_id: int | None = None,
    cursor: Cursor | None = None,
) -> list[int]:
    """Lease the next batch without reading its recipients yet (see
    :func:`take_batch`): what a worker does while its current batch goes out."""
    with sessions.begin() as session:
        return _lease_next(session, worker_id, settings, edition_id, None, cursor)


def take_batch(
    sessions: sessionmaker[Session], worker_id: str, ids: Sequence[int], settings: Settings
) -> tuple[list[Claimed], int]:
    """The deliveries ``ids`` leased ahead, with their recipients as they are
    now. Their leases start afresh; any this worker no longer holds (they
    ran out and another worker claimed them) are left out."""
    with sessions.begin() as session:
        held = _renew(session, worker_id, ids, settings, store_now(session))
        return _recipients(session, worker_id, held) if held else ([], 0)


def keep_leases(
    sessions: sessionmaker[Session], worker_id: str, ids: Sequence[int], settings: Settings
) -> None:
    """Extend the leases this worker still holds on ``ids`` (a batch going
    out slowly, at a rate limit or through a stalling relay, stays its own)."""
    with sessions.begin() as session:
        _renew(session, worker_id, ids, settings, store_now(session))


def _renew(
    session: Session, worker_id: str, ids: Sequence[int], settings: Settings, now: dt.datetime
) -> list[int]:
    return list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
            .values(lease_expires_at=now + dt.timedelta(seconds=settings.lease_seconds))
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def _lease_next(
    session: Session,
    worker_id: str,
    settings: Settings,
    edition_id: int | None,
    now: dt.datetime | None,
    cursor: Cursor | None,
) -> list[int]:
    now = now or store_now(session)
    cursor = {} if cursor is None else cursor
    editions = select(Edition.id).where(Edition.status == EditionStatus.SENDING)
    if edition_id is not None:
        editions = editions.where(Edition.id == edition_id)
    for sending in session.scalars(editions.order_by(Edition.id)).all():
        # Retries that are due first, then the queue in id order from where
        # this worker left it; at its end, once more from the start, for
        # what was handed back or whose lease ran out behind the cursor.
        ids = _lease(session, sending, DeliveryStatus.DEFERRED, worker_id, settings, now)
        queued: list[int] = []
        for after in dict.fromkeys((cursor.get(sending, 0), 0)):
            left = settings.batch_size - len(ids) - len(queued)
            if left > 0:
                queued += _lease(
                    session, sending, DeliveryStatus.QUEUED, worker_id, settings, now, left, after
                )
        if queued:
            cursor[sending] = max(queued)
        if ids or queued:
            return ids + queued
    return []


def _lease(
    session: Session,
    edition_id: int,
    status: DeliveryStatus,
    worker_id: str,
    settings: Settings,
    now: dt.datetime,
    limit: int | None = None,
    after: int = 0,
) -> list[int]:
    """Lease up to ``limit`` free deliveries of one edition in one state,
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
    elif after:
        due = due.where(Delivery.id > after)
    if session.get_bind().dialect.name == "postgresql":
        # Other workers' batches are locked: take the next free rows.
        due = due.with_for_update(skip_locked=True)
    return list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()))
            .values(
                lease_owner=worker_id,
                lease_expires_at=now + dt.timedelta(seconds=settings.lease_seconds),
            )
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def _recipients(session: Session, worker_id: str, ids: Sequence[int]) -> tuple[list[Claimed], int]:
    """The leased deliveries with their recipients, as they are now: those
    whose subscriber left or was suppressed are marked suppressed; those of
    an edition paused or cancelled since the lease are handed back."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.edition_id,
            Edition.week,
            Edition.started_at,
            Delivery.segment_id,
            Delivery.attempts,
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            receiving(process_now()),
            Edition.status == EditionStatus.SENDING,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
        .order_by(Delivery.id)
    ).all()
    claimed = [
        Claimed(row[0], row[1], row[2], row[3], row[4], row[5], Recipient(row[6], row[7], row[8]))
        for row in rows
        if row[9] and row[10]
    ]
    gone = [row[0] for row in rows if row[10] and not row[9]]
    held = [row[0] for row in rows if not row[10]]
    if gone:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(gone))
            .values(status=DeliveryStatus.SUPPRESSED, lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    if held:
        unlease(session, worker_id, held)
    return claimed, len(gone)


def release_batch(sessions: sessionmaker[Session], worker_id: str, ids: Sequence[int]) -> None:
    """Hand claimed deliveries back unsent (no attempt counted)."""
    with sessions.begin() as session:
        unlease(session, worker_id, ids)


def unlease(session: Session, worker_id: str, ids: Sequence[int]) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
