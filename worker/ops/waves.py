"""The waves of an edition sent in each reader's morning (DIGEST_SEND_LOCAL).

Every reader of one UTC offset on the send's date is due at the same
instant, so a wave is the deliveries of one due time: ``digest status``
shows each with its offset, how many deliveries it holds and how many of
them were sent. The offset is the send's wall-clock time (its week's send
time as DIGEST_TIMEZONE reads it) less the due time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.config import Settings
from worker.domain.mornings import utc_offset, wall_clock
from worker.domain.states import DeliveryStatus
from worker.domain.weeks import parse_week
from worker.schedule.due import week_send_time
from worker.store.models import Delivery, Edition


@dataclass(frozen=True)
class Wave:
    """The deliveries of an edition due at one time."""

    due_at: dt.datetime
    utc_offset: str | None  # "+14:00"; None when the week has no send time to read it from
    due: int  # deliveries due then
    sent: int


def edition_waves(session: Session, settings: Settings, edition: Edition) -> list[Wave]:
    """``edition``'s waves by due time, earliest first; none when its
    deliveries are all due at once (DIGEST_SEND_LOCAL off when it started).
    One query, grouped by due time."""
    rows = session.execute(
        select(
            Delivery.due_at,
            func.count(),
            func.count().filter(Delivery.status == DeliveryStatus.SENT),
        )
        .where(Delivery.edition_id == edition.id, Delivery.due_at.is_not(None))
        .group_by(Delivery.due_at)
        .order_by(Delivery.due_at)
    ).all()
    send_at = week_send_time(session, settings, parse_week(edition.week))
    local = wall_clock(send_at, settings.timezone) if send_at is not None else None
    return [
        Wave(due_at, _offset(local, due_at), due, sent)
        for due_at, due, sent in rows
        if due_at is not None
    ]


def _offset(local: dt.datetime | None, due_at: dt.datetime) -> str | None:
    """The UTC offset of the readers who get ``local`` at ``due_at``, as ``+05:30``."""
    if local is None:
        return None
    minutes = round(utc_offset(local, due_at).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"
