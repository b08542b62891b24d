"""The welcome's edition: the newest one that went out, as a newly
confirmed subscriber's segment got it, and the record that they got it (so
that no send of that edition mails them again)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from worker.compose.ids import EditionRef
from worker.compose.message import SegmentParts
from worker.domain.segments import EVERYONE
from worker.domain.states import WENT_OUT, DeliveryStatus
from worker.store import store_now, upsert
from worker.store.models import Delivery, Edition, EditionSegment


@dataclass(frozen=True)
class LatestSegment:
    """An edition that went out, as one segment got it."""

    edition: EditionRef
    segment_id: int
    parts: SegmentParts


def latest_segment(
    session: Session, list_id: str, subscriber_id: int, categories: str
) -> LatestSegment | None:
    """The newest edition that went out, as the segment of ``categories``
    got it (the full digest if that segment had nothing): what a new
    subscriber's welcome email carries. None before the first edition, or
    when the subscriber has a delivery of it already (someone coming back)."""
    edition = session.scalar(
        select(Edition)
        .where(Edition.list_id == list_id, Edition.status.in_(WENT_OUT))
        .order_by(Edition.week.desc())
        .limit(1)
    )
    if edition is None:
        return None
    had_it = exists().where(
        Delivery.edition_id == edition.id, Delivery.subscriber_id == subscriber_id
    )
    if session.scalar(select(had_it)):
        return None
    # One row's HTML, not every segment's: the subscriber's own, else the full digest.
    segment = session.scalar(
        select(EditionSegment)
        .where(
            EditionSegment.edition_id == edition.id,
            EditionSegment.segment.in_((categories, EVERYONE)),
        )
        .order_by((EditionSegment.segment == categories).desc())
        .limit(1)
    )
    if segment is None:
        return None
    return LatestSegment(
        EditionRef(edition.id, edition.week),
        segment.id,
        SegmentParts(segment.subject, segment.html, segment.text),
    )


def record_delivered(session: Session, latest: LatestSegment, subscriber_id: int) -> None:
    """Record that ``subscriber_id`` got ``latest`` outside a send (in their
    welcome email), so that no send of that edition mails it again."""
    session.execute(
        upsert(session, Delivery)
        .values(
            edition_id=latest.edition.edition_id,
            subscriber_id=subscriber_id,
            segment_id=latest.segment_id,
            status=DeliveryStatus.SENT.value,
            attempts=1,
            sent_at=store_now(session),
        )
        .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
    )
