"""Bounces, complaints and unsubscribes from every source, as one event type.

Each source (a mailbox of DSNs, the SES and Postmark webhooks) turns what it
receives into :class:`IntakeRecord` values; :func:`apply` records them in
``intake_event`` and acts on them. Intake is idempotent: an event is known by
its source and key, and only the first arrival of an event changes anything,
however often a mailbox is read or a webhook resent.

=============  ==========================================================
kind           effect
=============  ==========================================================
hard_bounce    suppressed (``hard_bounce``); a pending or confirmed
               subscriber becomes ``bounced``
soft_bounce    the subscriber's ``soft_bounces`` goes up by one; at
               ``SOFT_BOUNCE_LIMIT`` the address is suppressed
               (``soft_bounces``)
complaint      suppressed (``complaint``) and unsubscribed
unsubscribe    unsubscribed
delivered      ``soft_bounces`` back to 0
other          recorded only
=============  ==========================================================

Every source keys a bounce by the message it is about (one edition to one
address) and its kind, so a second report about the same message is a
duplicate: ``soft_bounces`` counts the editions that soft-bounced since the
last delivery event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from subscribers.consent import suppress, unsubscribe
from subscribers.roster import lookup_form
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import IntakeKind, SuppressionReason
from worker.errors import DigestError
from worker.now import process_now
from worker.store import upsert
from worker.store.models import IntakeEvent, Subscriber

KEY_LIMIT = 300  # intake_event.event_key
DETAIL_LIMIT = 2000
RAW_LIMIT = 64 * 1024  # a DSN quotes our whole message; its report comes first


class PayloadError(DigestError):
    """A webhook's payload is not what its service sends (SES's JSON, a
    Postmark record); the message names what is wrong or missing."""


@dataclass(frozen=True)
class IntakeRecord:
    """One event about one address, normalised over its source.

    ``subscriber_id`` is set when the source proves which subscriber the
    event is about (a signed VERP envelope, Message-ID or unsubscribe
    token); it takes effect on that subscriber's stored address. ``email``
    is the address the source names; with a ``subscriber_id`` too, it must
    be that subscriber's, or the event is recorded as ``other``.
    """

    source: str
    event_key: str
    kind: IntakeKind
    email: str | None
    detail: str | None = None
    raw: str | None = None
    subscriber_id: int | None = None


@dataclass
class IntakeSummary:
    """What a run of :func:`apply` did: newly applied events by kind, events
    seen before, addresses newly suppressed, events for no known subscriber."""

    applied: Counter[IntakeKind] = field(default_factory=Counter)
    already_seen: int = 0
    suppressed: int = 0
    unknown: int = 0

    def add(self, other: IntakeSummary) -> None:
        self.applied.update(other.applied)
        self.already_seen += other.already_seen
        self.suppressed += other.suppressed
        self.unknown += other.unknown


def address(raw: str) -> str:
    """An address as intake stores it: a display name dropped, then in
    :func:`~subscribers.roster.lookup_form` (a bounce may quote an address we
    would refuse, and the event is still worth keeping)."""
    return lookup_form(parseaddr(raw)[1] or raw)


def event_key(*parts: str) -> str:
    """The parts joined into one key, hashed when too long for the column."""
    key = " ".join(parts)
    if len(key) <= KEY_LIMIT:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def text_for_store(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters and without NUL characters,
    which PostgreSQL text cannot hold."""
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    return value if len(value) <= limit else value[:limit] + "\n[cut]"


def apply(
    session: Session,
    records: Iterable[IntakeRecord],
    *,
    soft_bounce_limit: int,
    now: dt.datetime | None = None,
) -> IntakeSummary:
    """Record each event once and apply those not seen before.

    Runs in the caller's transaction: the events and their effects are
    committed together, so an event is never recorded without its effect.
    """
    now = now or process_now()
    summary = IntakeSummary()
    for record in records:
        subscriber = _find_subscriber(session, record)
        record = _checked(record, subscriber)
        # The named address when there is one (checked above), else the stored one.
        email = record.email or (subscriber[1] if subscriber else None)
        if not _record_event(session, record, email, now):
            summary.already_seen += 1
            continue
        summary.applied[record.kind] += 1
        if subscriber is None:
            summary.unknown += 1
        if _take_effect(session, record, email, subscriber, soft_bounce_limit, now):
            summary.suppressed += 1
    return summary


def _find_subscriber(session: Session, record: IntakeRecord) -> tuple[int, str] | None:
    query = select(Subscriber.id, Subscriber.email)
    if record.subscriber_id is not None:
        query = query.where(Subscriber.id == record.subscriber_id)
    elif record.email:
        query = query.where(Subscriber.email == record.email)
    else:
        return None
    found = session.execute(query).first()
    return (found[0], found[1]) if found else None


def _checked(record: IntakeRecord, subscriber: tuple[int, str] | None) -> IntakeRecord:
    """``record``, or as ``other`` when it names both a subscriber and an
    address that is not (or no longer) theirs: a report about one of our
    messages cannot speak for another address."""
    if record.subscriber_id is None or record.email is None:
        return record
    if subscriber is not None and subscriber[1] == record.email:
        return record
    if subscriber is None:
        why = f"subscriber #{record.subscriber_id} is no longer stored"
    else:
        why = f"the message it is about went to subscriber #{record.subscriber_id}, not to it"
    detail = f"{record.kind.value} ignored: {why}"
    if record.detail:
        detail += f"; {record.detail}"
    return dataclasses.replace(record, kind=IntakeKind.OTHER, detail=detail)


def _record_event(
    session: Session, record: IntakeRecord, email: str | None, now: dt.datetime
) -> bool:
    result = session.execute(
        upsert(session, IntakeEvent)
        .values(
            source=record.source,
            event_key=event_key(record.event_key),
            kind=record.kind.value,
            email=email,
            detail=text_for_store(record.detail, DETAIL_LIMIT),
            raw=text_for_store(record.raw, RAW_LIMIT),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["source", "event_key"])
        # rowcount is -1 for this statement through the ORM on PostgreSQL:
        # a returned id is what says the row is new.
        .returning(IntakeEvent.id)
    )
    return result.first() is not None


def _take_effect(
    session: Session,
    record: IntakeRecord,
    email: str | None,
    subscriber: tuple[int, str] | None,
    soft_bounce_limit: int,
    now: dt.datetime,
) -> bool:
    """Apply one new event; True if it suppressed its address."""
    subscriber_id = subscriber[0] if subscriber else None
    kind = record.kind
    if kind is IntakeKind.HARD_BOUNCE and email:
        if subscriber_id is not None:
            # An unsubscribed subscriber stays unsubscribed: that was their choice.
            session.execute(
                update(Subscriber)
                .where(
                    Subscriber.id == subscriber_id,
                    Subscriber.status.in_((SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED)),
                )
                .values(status=SubscriberStatus.BOUNCED)
                .execution_options(synchronize_session=False)
            )
        return suppress(session, email, SuppressionReason.HARD_BOUNCE, record.detail)
    if kind is IntakeKind.COMPLAINT and email:
        if subscriber_id is not None:
            unsubscribe(session, subscriber_id, now)
        return suppress(session, email, SuppressionReason.COMPLAINT, record.detail)
    if kind is IntakeKind.UNSUBSCRIBE and subscriber_id is not None:
        unsubscribe(session, subscriber_id, now)
    elif kind is IntakeKind.SOFT_BOUNCE and subscriber_id is not None and email:
        return _count_soft_bounce(session, subscriber_id, email, record, soft_bounce_limit)
    elif kind is IntakeKind.DELIVERED and subscriber_id is not None:
        _set_soft_bounces(session, subscriber_id, 0)
    return False


def _count_soft_bounce(
    session: Session, subscriber_id: int, email: str, record: IntakeRecord, limit: int
) -> bool:
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(soft_bounces=Subscriber.soft_bounces + 1)
        .execution_options(synchronize_session=False)
    )
    count = session.scalar(select(Subscriber.soft_bounces).where(Subscriber.id == subscriber_id))
    if count is None or count < limit:
        return False
    detail = f"{count} soft bounces; the last: {record.detail or record.kind.value}"
    return suppress(session, email, SuppressionReason.SOFT_BOUNCES, detail)


def _set_soft_bounces(session: Session, subscriber_id: int, value: int) -> None:
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(soft_bounces=value)
        .execution_options(synchronize_session=False)
    )
