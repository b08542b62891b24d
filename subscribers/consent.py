"""Consent: subscribe (double opt-in), confirm, unsubscribe, suppress.

Every change of a subscriber's consent state goes through here, so the rules
hold whoever asks (the web app, the bounce intake, the CLI):

- Only the subscriber's own confirmation makes an address ``confirmed``
  (an import vouched for by the operator aside, see ``csvio``).
- A suppressed address is never confirmed, whatever is asked.
- Nothing a stranger can do changes a subscriber's data: a subscribe
  request for a stored address changes neither its name nor its categories
  (a confirmed one not at all), and only mails its owner.

Each change records its webhook event (:mod:`worker.store.outbox`) in the
same transaction: a new subscriber ``subscriber.created``, a confirmation
``subscriber.confirmed``, an unsubscribe ``subscriber.unsubscribed``, an
address newly suppressed ``subscriber.suppressed``.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Connection, and_, bindparam, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from subscribers.roster import Candidate
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.domain.webhooks import EventType
from worker.now import process_now
from worker.store import upsert
from worker.store.models import Subscriber, Suppression
from worker.store.outbox import check_transaction, record_subscriber_event, record_suppressions


class SubscribeOutcome(enum.StrEnum):
    """What a subscribe request led to; the visitor sees the same page for each."""

    CONFIRM = "confirm"  # new or not yet confirmed: send the confirmation email
    ALREADY = "already"  # confirmed already: tell the owner, change nothing
    SUPPRESSED = "suppressed"  # suppressed or bounced: send nothing, store nothing


class ConfirmOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"  # this link confirmed the subscription just now
    ALREADY = "already"  # confirmed before (a second click, a reload)
    REFUSED = "refused"  # gone, suppressed, bounced, or the link predates an unsubscribe


def subscribe(
    session: Session, candidate: Candidate, now: dt.datetime, *, source: str = "web"
) -> tuple[SubscribeOutcome, Subscriber | None]:
    """Record a subscribe request; returns what to send and to whom.

    A new address is stored ``pending`` with the chosen name, categories
    and time zone. A stored one keeps all three, whatever its state: anyone
    can send the form for any address, so a request proves nothing about
    who sent it, and only the owner (on the preferences page) changes them.
    A pending one gets a fresh start of its confirmation window and, like
    an unsubscribed one, the confirmation again; a confirmed one is left
    exactly as it was. Nothing is stored for a suppressed address.
    """
    if is_suppressed(session, candidate.email):
        return SubscribeOutcome.SUPPRESSED, None
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == candidate.email))
    if subscriber is None:
        subscriber = _add_pending(session, candidate, now, source)
    if subscriber.status == SubscriberStatus.BOUNCED:
        return SubscribeOutcome.SUPPRESSED, None
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return SubscribeOutcome.ALREADY, subscriber
    if subscriber.status == SubscriberStatus.PENDING:
        subscriber.created_at = now
    return SubscribeOutcome.CONFIRM, subscriber


def _add_pending(
    session: Session, candidate: Candidate, now: dt.datetime, source: str
) -> Subscriber:
    """A new pending subscriber; the row another request stored meanwhile
    (a double-clicked button) if there is one."""
    subscriber = Subscriber(
        email=candidate.email,
        name=candidate.name,
        categories=candidate.categories,
        timezone=candidate.timezone,
        status=SubscriberStatus.PENDING,
        source=source,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:
        return session.scalars(select(Subscriber).where(Subscriber.email == candidate.email)).one()
    record_subscriber_event(session, EventType.SUBSCRIBER_CREATED, subscriber.id)
    return subscriber


def confirm(
    session: Session, subscriber_id: int, email: str, issued_at: dt.datetime, now: dt.datetime
) -> ConfirmOutcome:
    """Confirm the subscription a confirmation link issued at ``issued_at``
    was made for.

    The link names the subscriber and the address it was sent to: a link
    sent before the row was deleted and its id reused confirms nothing. A
    link issued before the subscriber last unsubscribed confirms nothing
    either: replaying an old link must not undo an unsubscribe. One
    statement makes the change, so of two clicks at once only one confirms.
    """
    if is_suppressed(session, email):
        return ConfirmOutcome.REFUSED
    changed = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber_id,
            Subscriber.email == email,
            or_(
                Subscriber.status == SubscriberStatus.PENDING,
                and_(
                    Subscriber.status == SubscriberStatus.UNSUBSCRIBED,
                    or_(
                        Subscriber.unsubscribed_at.is_(None),
                        Subscriber.unsubscribed_at <= issued_at,
                    ),
                ),
            ),
        )
        .values(
            status=SubscriberStatus.CONFIRMED,
            confirmed_at=now,
            unsubscribed_at=None,
            paused_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount:  # type: ignore[attr-defined]
        record_subscriber_event(session, EventType.SUBSCRIBER_CONFIRMED, subscriber_id)
        return ConfirmOutcome.CONFIRMED
    status = session.scalar(
        select(Subscriber.status).where(Subscriber.id == subscriber_id, Subscriber.email == email)
    )
    return (
        ConfirmOutcome.ALREADY if status == SubscriberStatus.CONFIRMED else ConfirmOutcome.REFUSED
    )


def unsubscribe(store: Session | Connection, subscriber_id: int, now: dt.datetime) -> bool:
    """Unsubscribe at once; True if this changed anything. Idempotent, and
    one statement: the one-click endpoint runs it on an autocommit
    connection, in one round trip (unless ``store`` records webhook events:
    the event is written by the same transaction, which the caller opens)."""
    check_transaction(store)
    result = store.execute(_UNSUBSCRIBE, {"subscriber_id": subscriber_id, "now": now})
    return _unsubscribed(store, subscriber_id, result.rowcount)  # type: ignore[attr-defined]


def unsubscribe_as_of(store: Session | Connection, subscriber_id: int, at: dt.datetime) -> bool:
    """Unsubscribe as of ``at``, for a request made then and applied later
    (a queued one-click unsubscribe); True if this changed anything. A
    subscriber who confirmed after ``at`` stays subscribed: their newer
    choice wins."""
    check_transaction(store)
    result = store.execute(
        _UNSUBSCRIBE.where(
            or_(Subscriber.confirmed_at.is_(None), Subscriber.confirmed_at <= bindparam("now"))
        ),
        {"subscriber_id": subscriber_id, "now": at},
    )
    return _unsubscribed(store, subscriber_id, result.rowcount)  # type: ignore[attr-defined]


def _unsubscribed(store: Session | Connection, subscriber_id: int, changed: int) -> bool:
    if changed:
        record_subscriber_event(store, EventType.SUBSCRIBER_UNSUBSCRIBED, subscriber_id)
    return bool(changed)


# Built once: the one-click endpoint runs it at every request.
_UNSUBSCRIBE = (
    update(Subscriber)
    .where(
        Subscriber.id == bindparam("subscriber_id"),
        # Not IN (…): a tuple becomes an "expanding" parameter whose SQL is
        # written anew at every execution, and never prepared by the server.
        or_(
            Subscriber.status == SubscriberStatus.PENDING,
            Subscriber.status == SubscriberStatus.CONFIRMED,
        ),
    )
    .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def is_suppressed(session: Session, email: str) -> bool:
    """Whether ``email`` is on the suppression list."""
    return bool(session.scalar(select(exists().where(Suppression.email == email))))


def suppress(
    session: Session, email: str, reason: SuppressionReason, detail: str | None = None
) -> bool:
    """Put ``email`` on the suppression list; True if it was not there yet.
    The first reason stays: a later one does not overwrite it."""
    result = session.execute(
        upsert(session, Suppression)
        .values(email=email, reason=reason.value, detail=detail, created_at=process_now())
        .on_conflict_do_nothing(index_elements=["email"])
        # SQLAlchemy keeps an INSERT's row count only when asked.
        .execution_options(preserve_rowcount=True)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    record_suppressions(session, [(email, reason.value)])
    return True


def unsuppress(session: Session, email: str) -> bool:
    """Take ``email`` off the suppression list (an operator's decision)."""
    result = session.execute(delete(Suppression).where(Suppression.email == email))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def expire_pending(session: Session, now: dt.datetime, max_age: dt.timedelta) -> int:
    """Delete subscribe requests of the web form left unconfirmed for longer
    than ``max_age`` since the last request (their confirmation links have
    expired too); returns how many. Pending rows an operator imported stay."""
    result = session.execute(
        delete(Subscriber).where(
            Subscriber.status == SubscriberStatus.PENDING,
            Subscriber.source == "web",
            Subscriber.created_at < now - max_age,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
