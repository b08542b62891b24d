"""The operator's list management: add, remove, suppress, and the list's figures.

What the ``digest subscribers`` commands do, beside CSV import and export
(:mod:`subscribers.csvio`, :mod:`subscribers.csvexport`). Consent rules hold here as everywhere
(:mod:`subscribers.consent`): adding never touches someone already on the
list, and a suppressed address is never added. Erasing a subscriber keeps
their address on the suppression list, so that no later import or
``add`` brings them back.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from subscribers import consent
from subscribers.ratelimit import address_key
from subscribers.roster import (
    CategoryCheck,
    InvalidField,
    candidate,
    known_categories,
    lookup_form,
    normalise_email,
)
from worker.domain.segments import segment_categories
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.domain.tokens import CONFIRM_WINDOW
from worker.errors import DigestError
from worker.store.models import IntakeEvent, RateHit, Subscriber, Suppression, receiving
from worker.store.outbox import forget_subscriber, record_arrivals

T = TypeVar("T")


class ListError(DigestError):
    """A list change that cannot be made; the message names the field."""


class Removal(enum.StrEnum):
    """What removing a subscriber did."""

    UNSUBSCRIBED = "unsubscribed"
    ALREADY_GONE = "already gone"  # unsubscribed or bounced before
    DELETED = "deleted; the address stays on the suppression list"


@dataclass(frozen=True)
class Added:
    """The subscriber an ``add`` names, as stored afterwards."""

    subscriber_id: int
    email: str
    name: str | None
    status: str
    categories: str
    timezone: str | None  # None: DIGEST_TIMEZONE
    added: bool  # False: already on the list, left as it was
    untooled: tuple[str, ...] = ()  # of their categories, those no tool has yet


@dataclass(frozen=True)
class Segment:
    """The confirmed subscribers of one segment."""

    categories: str  # segment key; "" is every category
    confirmed: int
    # Confirmed, not paused, not suppressed, and a choice some tool is in:
    # the next edition's (a segment gets no render without a tool of its own).
    receiving: int
    untooled: tuple[str, ...] = ()  # its categories that no tool has (yet)


@dataclass(frozen=True)
class ListStats:
    """The list's figures, as ``digest subscribers stats`` shows them."""

    by_status: dict[str, int]  # every status, 0 included
    suppressed: dict[str, int]  # by reason, 0 included
    stale_pending: int  # pending for longer than CONFIRM_WINDOW
    segments: list[Segment]  # most receiving first

    @property
    def receiving(self) -> int:
        """How many subscribers the next edition goes to."""
        return sum(s.receiving for s in self.segments)


def add_subscriber(
    session: Session,
    email: str,
    name: str | None,
    categories: list[str],
    *,
    confirmed: bool,
    now: dt.datetime,
    new_categories: tuple[str, ...] = (),
    timezone: str | None = None,
) -> Added:
    """Add one subscriber, ``confirmed`` (the operator vouches for their
    consent) or pending (the caller sends the confirmation). Someone already
    on the list is left as they are; a suppressed address is refused, and so
    is a category no tool has, unless it is one of ``new_categories`` or no
    tool has a category yet (:class:`subscribers.roster.CategoryCheck`), and
    a ``timezone`` the IANA database does not have."""
    check = CategoryCheck.of(session, new_categories)
    who = _valid(lambda: candidate(email, name, categories, check, timezone))
    reason = session.scalar(select(Suppression.reason).where(Suppression.email == who.email))
    if reason is not None:
        raise ListError(f"email: {who.email} is suppressed ({reason}); unsuppress it first")
    existing = session.scalar(select(Subscriber).where(Subscriber.email == who.email))
    if existing is not None:
        return _added(existing, added=False)
    subscriber = Subscriber(
        email=who.email,
        name=who.name,
        categories=who.categories,
        timezone=who.timezone,
        status=SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING,
        source="cli",
        created_at=now,
        confirmed_at=now if confirmed else None,
    )
    session.add(subscriber)
    session.flush()
    record_arrivals(session, [(subscriber.id, subscriber.status)])
    return _added(subscriber, added=True, untooled=check.untooled(who.categories))


def remove_subscriber(session: Session, email: str, *, erase: bool, now: dt.datetime) -> Removal:
    """Unsubscribe ``email`` at once, or with ``erase`` delete its row (and
    with it its votes and deliveries), the bounce and complaint reports
    stored about the address and its subscribe-form rate-limit hits. A
    suppression of the address stays; an erased address without one gets
    one (``manual``), the only trace of them kept, so that no import can
    subscribe them again."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == lookup_form(email)))
    if subscriber is None:
        raise ListError(f"email: {email.strip()} is not on the list")
    if erase:
        address, subscriber_id = subscriber.email, subscriber.id
        session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
        # Their webhook events hold the address; the suppression's event
        # below tells the receivers.
        forget_subscriber(session, subscriber_id)
        # A report quotes the message it is about, name and address included.
        session.execute(delete(IntakeEvent).where(IntakeEvent.email == address))
        session.execute(delete(RateHit).where(RateHit.key == address_key(address)))
        detail = f"erased on request {now.date().isoformat()}"
        consent.suppress(session, address, SuppressionReason.MANUAL, detail)
        return Removal.DELETED
    if consent.unsubscribe(session, subscriber.id, now):
        return Removal.UNSUBSCRIBED
    return Removal.ALREADY_GONE


def suppress_address(
    session: Session, email: str, reason: SuppressionReason, detail: str | None
) -> tuple[str, str | None]:
    """Put ``email`` on the suppression list, subscriber or not. Returns the
    address as stored and the reason it was already suppressed for, if it
    was (the first reason stays)."""
    address = _valid(lambda: normalise_email(email))
    earlier = session.scalar(select(Suppression.reason).where(Suppression.email == address))
    if earlier is None:
        consent.suppress(session, address, reason, detail)
    return address, earlier


def unsuppress_address(session: Session, email: str) -> str:
    """Take ``email`` off the suppression list; returns the address. It is
    not resubscribed: a subscriber who left or bounced stays so."""
    address = lookup_form(email)
    if not consent.unsuppress(session, address):
        raise ListError(f"email: {email.strip()} is not on the suppression list")
    return address


def list_stats(session: Session, now: dt.datetime) -> ListStats:
    """The list's figures, in four grouped queries."""
    by_status = dict.fromkeys((s.value for s in SubscriberStatus), 0)
    by_status.update(
        session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
    )
    suppressed = dict.fromkeys((r.value for r in SuppressionReason), 0)
    suppressed.update(
        session.execute(select(Suppression.reason, func.count()).group_by(Suppression.reason)).all()
    )
    stale = session.scalar(
        select(func.count())
        .select_from(Subscriber)
        .where(
            Subscriber.status == SubscriberStatus.PENDING,
            Subscriber.created_at < now - CONFIRM_WINDOW,
        )
    )
    check = CategoryCheck(tuple(known_categories(session)))
    segments = [
        _segment(check, key, confirmed, int(receiving_count or 0))
        for key, confirmed, receiving_count in session.execute(
            select(
                Subscriber.categories,
                func.count(),
                func.sum(case((receiving(now), 1), else_=0)),
            )
            .where(Subscriber.status == SubscriberStatus.CONFIRMED)
            .group_by(Subscriber.categories)
        )
    ]
    segments.sort(key=lambda s: (-s.receiving, -s.confirmed, s.categories))
    return ListStats(by_status, suppressed, stale or 0, segments)


def _segment(check: CategoryCheck, key: str, confirmed: int, receiving: int) -> Segment:
    """A segment's figures; none of it receives when no tool is of its choice."""
    untooled = check.untooled(key)
    if key and len(untooled) == len(segment_categories(key)):
        receiving = 0
    return Segment(key, confirmed, receiving, tuple(untooled))


def _added(subscriber: Subscriber, *, added: bool, untooled: list[str] | None = None) -> Added:
    return Added(
        subscriber.id,
        subscriber.email,
        subscriber.name,
        subscriber.status,
        subscriber.categories,
        subscriber.timezone,
        added=added,
        untooled=tuple(untooled or ()),
    )


def _valid(check: Callable[[], T]) -> T:
    try:
        return check()
    except InvalidField as error:
        raise ListError(str(error), hint=error.hint) from None
