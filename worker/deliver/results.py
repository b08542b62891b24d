"""Results: what a sent batch did, decided per delivery and written back.

:func:`decide` is the rule, without a store: an accepted message is sent; a
transient failure is deferred with exponential backoff and jitter
(:func:`retry_delay`) until ``max_attempts`` or ``max_age_hours``, then
failed; a permanent one fails, and an address the backend found dead (an
unknown user, 5.1.x) is suppressed; a message the backend could not send at
all is released with no attempt counted. :func:`record_results` writes a
batch's decisions in one transaction, and :func:`finish_if_done` marks an
edition with nothing left pending sent.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Exists, bindparam, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.deliver.claims import Claimed, release
from worker.domain.states import DeliveryStatus, EditionStatus
from worker.domain.suppression import SuppressionReason
from worker.mail.base import Outcome, SendResult
from worker.store import store_now, upsert
from worker.store.models import (
    Delivery,
    Edition,
    Suppression,
)
from worker.store.outbox import record_edition_sent, record_suppressions

__all__ = ["Decision", "SendReport", "decide", "finish_if_done", "record_results", "retry_delay"]

#: How much of a server's answer a failed delivery (and a suppression) keeps.
ERROR_CHARS = 1000


@dataclass
class SendReport:
    """What one worker run did."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    batches: int = 0
    editions: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Decision:
    """What a send result makes of one claimed delivery."""

    delivery_id: int
    #: Sent, deferred (retried at ``retry_at``) or failed; None when nothing
    #: was sent: the delivery is released, no attempt counted.
    status: DeliveryStatus | None
    #: The delivery's attempts, this one included.
    attempts: int
    retry_at: dt.datetime | None = None
    code: int | None = None
    error: str | None = None
    #: Why the address joins the suppression list (the backend found it dead).
    suppress: SuppressionReason | None = None
    email: str = ""


def decide(claimed: Claimed, result: SendResult, now: dt.datetime, settings: Settings) -> Decision:
    """What ``result`` makes of the delivery ``claimed`` at ``now`` (the
    store's clock): sent, retried later while attempts and the edition's age
    allow, failed, or released unsent."""
    if result.outcome == Outcome.UNSENT:
        return Decision(claimed.delivery_id, None, claimed.attempts)
    attempts = claimed.attempts + 1
    if result.outcome == Outcome.ACCEPTED:
        return Decision(claimed.delivery_id, DeliveryStatus.SENT, attempts)
    too_old = now - (claimed.started_at or now) > dt.timedelta(hours=settings.max_age_hours)
    retry = result.outcome == Outcome.TRANSIENT and attempts < settings.max_attempts and not too_old
    return Decision(
        claimed.delivery_id,
        DeliveryStatus.DEFERRED if retry else DeliveryStatus.FAILED,
        attempts,
        retry_at=now + retry_delay(attempts, settings) if retry else None,
        code=result.code,
        error=result.text[:ERROR_CHARS],
        suppress=result.suppress if result.outcome == Outcome.PERMANENT else None,
        email=claimed.recipient.email,
    )


def retry_delay(attempts: int, settings: Settings) -> dt.timedelta:
    """Exponential backoff with jitter: between half and all of
    base × 2^(attempts−1), capped."""
    ceiling = min(settings.retry_cap_seconds, settings.retry_base_seconds * 2 ** (attempts - 1))
    return dt.timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def record_results(
    sessions: sessionmaker[Session],
    worker_id: str,
    batch: Sequence[Claimed],
    results: Sequence[SendResult],
    settings: Settings,
    report: SendReport,
) -> None:
    """Decide what each result of a sent batch makes of its delivery and
    write it, in one transaction, at the store's time. ``report`` counts them
    once written."""
    with sessions.begin() as session:
        moment = store_now(session)
        decisions = [decide(c, r, moment, settings) for c, r in zip(batch, results, strict=True)]
        _write_decisions(session, worker_id, decisions, moment)
    counts = Counter(decision.status for decision in decisions)
    report.sent += counts[DeliveryStatus.SENT]
    report.deferred += counts[DeliveryStatus.DEFERRED]
    report.failed += counts[DeliveryStatus.FAILED]


def finish_if_done(sessions: sessionmaker[Session], edition_id: int) -> bool:
    """Mark a sending edition sent once no delivery is pending; True if sent."""
    with sessions.begin() as session:
        # One probe per partial index (the queue undated and dated, the
        # retries), each answered by it; an IN over the states would read
        # the whole edition. A dated delivery whose morning has not come
        # yet is pending: the edition is sent after its last wave.
        for pending in _pending(edition_id):
            if session.scalar(select(pending)):
                return False
        done = session.execute(
            update(Edition)
            .where(Edition.id == edition_id, Edition.status == EditionStatus.SENDING)
            .values(status=EditionStatus.SENT, sent_at=store_now(session))
            .execution_options(synchronize_session=False)
        )
        if not done.rowcount:
            return False
        # Webhooks: edition.sent, in the transaction that marks it sent.
        record_edition_sent(session, edition_id)
        return True


def _pending(edition_id: int) -> list[Exists]:
    """Whether ``edition_id`` has a delivery left to send, asked of each
    partial index of the pending deliveries (models.Delivery)."""
    mine = Delivery.edition_id == edition_id
    queued = Delivery.status == DeliveryStatus.QUEUED
    return [
        exists().where(mine, queued, Delivery.due_at.is_(None)),
        exists().where(mine, queued, Delivery.due_at.is_not(None)),
        exists().where(mine, Delivery.status == DeliveryStatus.DEFERRED),
    ]


def _write_decisions(
    session: Session, worker_id: str, decisions: Sequence[Decision], now: dt.datetime
) -> None:
    """Write a batch's decisions on the deliveries ``worker_id`` still holds:
    the sent ones in one statement, the failures (rare) in one executemany;
    release the unsent ones; suppress the dead addresses."""
    sent = [d.delivery_id for d in decisions if d.status == DeliveryStatus.SENT]
    failures = [
        d for d in decisions if d.status in (DeliveryStatus.DEFERRED, DeliveryStatus.FAILED)
    ]
    unsent = [d.delivery_id for d in decisions if d.status is None]
    dead = [
        {
            "email": d.email,
            "reason": d.suppress.value,
            "detail": f"{d.code} {d.error}"[:ERROR_CHARS],
            "created_at": now,
        }
        for d in decisions
        if d.suppress is not None
    ]
    if sent:
        _mark_sent(session, worker_id, sent, now)
    if failures:
        _mark_failures(session, worker_id, failures)
    if unsent:
        release(session, worker_id, unsent)
    if dead:
        _suppress(session, dead)


def _mark_sent(session: Session, worker_id: str, ids: Sequence[int], now: dt.datetime) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
        .values(
            status=DeliveryStatus.SENT,
            attempts=Delivery.attempts + 1,
            sent_at=now,
            lease_owner=None,
            lease_expires_at=None,
            last_code=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )


def _mark_failures(session: Session, worker_id: str, failures: Sequence[Decision]) -> None:
    session.connection().execute(
        update(Delivery.__table__)
        .where(Delivery.id == bindparam("b_id"), Delivery.lease_owner == worker_id)
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            last_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            lease_owner=None,
            lease_expires_at=None,
        ),
        [
            {
                "b_id": d.delivery_id,
                "b_status": d.status,
                "b_attempts": d.attempts,
                "b_next": d.retry_at,
                "b_code": d.code,
                "b_error": d.error,
            }
            for d in failures
        ],
    )


def _suppress(session: Session, rows: list[dict[str, object]]) -> None:
    """Add addresses to the suppression list; ones already there stay as they are."""
    added = session.execute(
        upsert(session, Suppression)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(Suppression.email, Suppression.reason)
    )
    # Webhooks: subscriber.suppressed for each address newly suppressed.
    record_suppressions(session, added.all())
