"""Results: what a sent batch did, written back to its deliveries.

Transient failures are deferred with exponential backoff and jitter until
``max_attempts`` or ``max_age_hours``; permanent ones fail, and an unknown
user (5.1.x) is suppressed. An edition with nothing left pending is sent.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.deliver.claims import Claimed, release
from worker.domain.states import DeliveryStatus, EditionStatus
from worker.mail.base import Outcome, SendResult
from worker.store import store_now, upsert
from worker.store.models import (
    Delivery,
    Edition,
    Suppression,
)

PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


@dataclass
class SendReport:
    """What one worker run did."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    batches: int = 0
    editions: set[int] = field(default_factory=set)


def record_results(
    sessions: sessionmaker[Session],
    worker_id: str,
    batch: Sequence[Claimed],
    results: Sequence[SendResult],
    settings: Settings,
    report: SendReport,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Write a batch's outcomes: the accepted ones in one statement, the
    failures (rare) in one executemany; suppress the addresses the backend
    found dead; hand back the unsent ones with no attempt counted. ``report``
    counts them once they are written."""
    counted = SendReport()
    with sessions.begin() as session:
        _record(session, worker_id, batch, results, settings, counted, now or store_now(session))
    report.sent += counted.sent
    report.deferred += counted.deferred
    report.failed += counted.failed


def _record(
    session: Session,
    worker_id: str,
    batch: Sequence[Claimed],
    results: Sequence[SendResult],
    settings: Settings,
    report: SendReport,
    now: dt.datetime,
) -> None:
    accepted = [
        c.delivery_id for c, r in zip(batch, results, strict=True) if r.outcome == Outcome.ACCEPTED
    ]
    unsent = [
        c.delivery_id for c, r in zip(batch, results, strict=True) if r.outcome == Outcome.UNSENT
    ]
    failures: list[dict[str, object]] = []
    dead: list[dict[str, object]] = []
    for claimed, result in zip(batch, results, strict=True):
        if result.outcome in (Outcome.ACCEPTED, Outcome.UNSENT):
            continue
        attempts = claimed.attempts + 1
        too_old = now - (claimed.started_at or now) > dt.timedelta(hours=settings.max_age_hours)
        retry = (
            result.outcome == Outcome.TRANSIENT and attempts < settings.max_attempts and not too_old
        )
        failures.append(
            {
                "b_id": claimed.delivery_id,
                "b_status": DeliveryStatus.DEFERRED if retry else DeliveryStatus.FAILED,
                "b_attempts": attempts,
                "b_next": now + retry_delay(attempts, settings) if retry else None,
                "b_code": result.code,
                "b_error": result.text[:1000],
            }
        )
        if retry:
            report.deferred += 1
        else:
            report.failed += 1
        if result.outcome == Outcome.PERMANENT and result.suppress is not None:
            dead.append(
                {
                    "email": claimed.recipient.email,
                    "reason": result.suppress.value,
                    "detail": f"{result.code} {result.text}"[:1000],
                    "created_at": now,
                }
            )
    report.sent += len(accepted)
    if accepted:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(accepted), Delivery.lease_owner == worker_id)
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
    if failures:
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
            failures,
        )
    if unsent:
        release(session, worker_id, unsent)
    if dead:
        _suppress(session, dead)


def retry_delay(attempts: int, settings: Settings) -> dt.timedelta:
    """Exponential backoff with jitter: between half and all of
    base × 2^(attempts−1), capped."""
    ceiling = min(settings.retry_cap_seconds, settings.retry_base_seconds * 2 ** (attempts - 1))
    return dt.timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def finish_if_done(sessions: sessionmaker[Session], edition_id: int) -> bool:
    """Mark a sending edition sent once no delivery is pending; True if sent."""
    with sessions.begin() as session:
        # One probe per state, each answered by its partial index; an IN
        # over both states would read the whole edition.
        for status in PENDING:
            pending = exists().where(Delivery.edition_id == edition_id, Delivery.status == status)
            if session.scalar(select(pending)):
                return False
        done = session.execute(
            update(Edition)
            .where(Edition.id == edition_id, Edition.status == EditionStatus.SENDING)
            .values(status=EditionStatus.SENT, sent_at=store_now(session))
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount)


def _suppress(session: Session, rows: list[dict[str, object]]) -> None:
    """Add addresses to the suppression list; ones already there stay as they are."""
    session.execute(
        upsert(session, Suppression).values(rows).on_conflict_do_nothing(index_elements=["email"])
    )
