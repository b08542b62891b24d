"""The due times of an edition's deliveries with ``DIGEST_SEND_LOCAL`` on.

An edition's send time is a wall-clock date and time in ``DIGEST_TIMEZONE``;
each reader gets it when it comes in their own zone (``subscriber.timezone``,
none meaning ``DIGEST_TIMEZONE``). A list has a few hundred zones at most and
may have a million readers, so the instants are worked out once per zone in
Python (:mod:`worker.domain.mornings`) and the store applies them, as one
``CASE`` on the subscriber's zone inside the ``INSERT … SELECT`` that makes
the deliveries: never a row of Python per reader.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import ColumnElement, case, literal, select
from sqlalchemy.orm import Session

from worker.config import Settings
from worker.domain.mornings import known_zone, morning_in, wall_clock
from worker.domain.states import SubscriberStatus
from worker.store.models import Subscriber, UTCDateTime

log = logging.getLogger("worker.editions")


def reader_zones(session: Session) -> list[str]:
    """The zones of confirmed readers, each once (a zone of a reader who
    gets nothing this time is a branch of the CASE that nobody takes)."""
    return sorted(
        session.scalars(
            select(Subscriber.timezone)
            .where(
                Subscriber.status == SubscriberStatus.CONFIRMED, Subscriber.timezone.is_not(None)
            )
            .distinct()
        )
    )


def due_times(
    session: Session, settings: Settings, send_at: dt.datetime
) -> tuple[dict[str, dt.datetime], dt.datetime]:
    """When the wall-clock time of ``send_at`` (in ``DIGEST_TIMEZONE``)
    comes in each reader zone, and in the list's own zone (for readers
    without one, or with a zone this machine does not know: logged)."""
    local = wall_clock(send_at, settings.timezone)
    default = morning_in(local, settings.timezone)
    found = {}
    for name in reader_zones(session):
        zone = known_zone(name)
        if zone is None:
            log.warning(
                "unknown reader zone: the list's zone is used",
                extra={"zone": name, "instead": settings.digest_timezone},
            )
            continue
        found[name] = morning_in(local, zone)
    return found, default


def due_at_expression(
    session: Session, settings: Settings, send_at: dt.datetime
) -> ColumnElement[dt.datetime]:
    """Each subscriber's due time for an edition sent at ``send_at``, as a
    SQL expression on ``Subscriber``: one ``CASE`` branch per zone in use."""
    by_zone, default = due_times(session, settings, send_at)
    fallback = literal(default, UTCDateTime())
    if not by_zone:
        return fallback
    return case(
        {name: literal(at, UTCDateTime()) for name, at in by_zone.items()},
        value=Subscriber.timezone,
        else_=fallback,
    )
