"""Consent: subscribe (double opt-in), confirm, unsubscribe, suppress.

Every change of a subscriber's consent state goes through here, so the rules
hold whoever asks (the web app, the bounce intake, the CLI):

- Only the subscriber's own confirmation makes an address ``confirmed``
  (an import vouched for by the operator aside, see ``csvio``).
- A suppressed address is never confirmed, whatever is asked.
- Nothing a stranger can do changes a confirmed subscriber: a subscribe
  request for a confirmed address changes nothing and only mails its owner.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from subscribers.roster import Candidate
from worker.store import upsert
from worker.store.models import Subscriber, SubscriberStatus, Suppression, SuppressionReason


class SubscribeOutcome(enum.StrEnum):
    """What a subscribe request led to; the visitor sees the same page for each."""

    CONFIRM = "confirm"  # new or not yet confirmed: send the confirmation email
    ALREADY = "already"  # confirmed already: tell the owner, change nothing
    SUPPRESSED = "suppressed"  # on the suppression list: send nothing


def subscribe(
    session: Session, candidate: Candidate, *, source: str = "web"
) -> tuple[SubscribeOutcome, Subscriber]:
    """Record a subscribe request; returns what to send and to whom.

    A new address is stored ``pending`` with the chosen categories; a pending
    or unsubscribed one gets the new choice (it receives nothing until
    confirmed); a confirmed one is left exactly as it was.
    """
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == candidate.email))
    if subscriber is None:
        subscriber = Subscriber(
            email=candidate.email,
            name=candidate.name,
            categories=candidate.categories,
            status=SubscriberStatus.PENDING,
            source=source,
        )
        session.add(subscriber)
        session.flush()
    if is_suppressed(session, candidate.email) or subscriber.status == SubscriberStatus.BOUNCED:
        return SubscribeOutcome.SUPPRESSED, subscriber
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return SubscribeOutcome.ALREADY, subscriber
    subscriber.categories = candidate.categories
    if candidate.name:
        subscriber.name = candidate.name
    return SubscribeOutcome.CONFIRM, subscriber


def confirm(
    session: Session, subscriber_id: int, email: str, issued_at: dt.datetime, now: dt.datetime
) -> bool:
    """Confirm the subscription a confirmation link issued at ``issued_at``
    was made for. Returns whether the subscriber is now confirmed.

    The link names the subscriber and the address it was sent to: a link
    sent before the row was deleted and its id reused confirms nothing. A
    link issued before the subscriber last unsubscribed confirms nothing
    either: replaying an old link must not undo an unsubscribe.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.email != email:
        return False
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return True
    if subscriber.status == SubscriberStatus.BOUNCED or is_suppressed(session, email):
        return False
    left = subscriber.unsubscribed_at
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED and left and issued_at < left:
        return False
    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.paused_until = None
    return True


def unsubscribe(session: Session, subscriber_id: int, now: dt.datetime) -> bool:
    """Unsubscribe at once; True if this changed anything. Idempotent."""
    result = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber_id,
            Subscriber.status.in_((SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED)),
        )
        .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unsubscribe_email(session: Session, email: str, now: dt.datetime) -> bool:
    """Unsubscribe the subscriber with ``email`` (normalised), if any."""
    found = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
    return found is not None and unsubscribe(session, found, now)


def is_suppressed(session: Session, email: str) -> bool:
    return bool(session.scalar(select(exists().where(Suppression.email == email))))


def suppress(
    session: Session, email: str, reason: SuppressionReason, detail: str | None = None
) -> bool:
    """Put ``email`` on the suppression list; True if it was not there yet.
    The first reason stays: a later one does not overwrite it."""
    result = session.execute(
        upsert(session, Suppression)
        .values(email=email, reason=reason.value, detail=detail, created_at=_now())
        .on_conflict_do_nothing(index_elements=["email"])
        # SQLAlchemy keeps an INSERT's row count only when asked.
        .execution_options(preserve_rowcount=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unsuppress(session: Session, email: str) -> bool:
    """Take ``email`` off the suppression list (an operator's decision)."""
    result = session.execute(delete(Suppression).where(Suppression.email == email))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def expire_pending(session: Session, now: dt.datetime, max_age: dt.timedelta) -> int:
    """Delete subscriptions left unconfirmed for longer than ``max_age``
    (their confirmation links have expired too); returns how many."""
    result = session.execute(
        delete(Subscriber).where(
            Subscriber.status == SubscriberStatus.PENDING,
            Subscriber.created_at < now - max_age,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
