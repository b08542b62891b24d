"""Results: the decision a send result makes of a delivery (no store), and a
batch's decisions written back: sent, retried with backoff, failed,
suppressed, or released."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, build_sample_week
from tests.support.sending import Scripted, committed
from worker.compose.message import Recipient
from worker.config import Settings
from worker.deliver.claims import Claimed, claim, claimed_batch
from worker.deliver.editions import edition_counts, start_edition
from worker.deliver.results import (
    Decision,
    SendReport,
    decide,
    finish_if_done,
    record_results,
    retry_delay,
)
from worker.deliver.runner import send_edition
from worker.domain.states import DeliveryStatus
from worker.domain.suppression import SuppressionReason
from worker.mail.base import Outcome, SendResult
from worker.render.renderer import Renderer
from worker.store.models import Delivery, Subscriber, Suppression

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
BUSY = SendResult(Outcome.TRANSIENT, 451, "4.3.0 try again later")
UNKNOWN = SendResult(
    Outcome.PERMANENT, 550, "5.1.1 User unknown", suppress=SuppressionReason.UNKNOWN_USER
)


def claimed(attempts: int = 0, started_at: dt.datetime | None = NOW) -> Claimed:
    """Delivery 7 of an edition started at ``started_at``, to Ada."""
    return Claimed(
        7, 1, "2026-W48", started_at, 3, attempts, Recipient(11, "ada@example.com", None)
    )


# The decision, without a store.


def test_an_accepted_message_is_sent(settings: Settings) -> None:
    decision = decide(claimed(attempts=2), SendResult.accepted(), NOW, settings)
    assert decision == Decision(7, DeliveryStatus.SENT, 3)


def test_a_message_not_sent_at_all_is_handed_back_with_no_attempt_counted(
    settings: Settings,
) -> None:
    unsent = SendResult(Outcome.UNSENT, 553, "5.7.1 sender not allowed")
    assert decide(claimed(attempts=2), unsent, NOW, settings) == Decision(7, None, 2)


def test_a_transient_failure_is_retried_after_a_backoff(settings: Settings) -> None:
    decision = decide(claimed(attempts=1), BUSY, NOW, settings)
    assert (decision.status, decision.attempts) == (DeliveryStatus.DEFERRED, 2)
    assert (decision.code, decision.error, decision.suppress) == (451, BUSY.text, None)
    # The second attempt's backoff: between half and all of base × 2.
    assert decision.retry_at is not None
    ceiling = settings.retry_base_seconds * 2
    assert NOW + dt.timedelta(seconds=ceiling / 2) <= decision.retry_at
    assert decision.retry_at <= NOW + dt.timedelta(seconds=ceiling)


def test_a_transient_failure_on_the_last_attempt_fails(settings: Settings) -> None:
    last = settings.max_attempts - 1
    decision = decide(claimed(attempts=last), BUSY, NOW, settings)
    assert (decision.status, decision.attempts, decision.retry_at) == (
        DeliveryStatus.FAILED,
        settings.max_attempts,
        None,
    )
    assert (decision.code, decision.error) == (451, BUSY.text)


def test_a_transient_failure_of_an_edition_too_old_fails_at_once(settings: Settings) -> None:
    age = dt.timedelta(hours=settings.max_age_hours)
    old = decide(claimed(started_at=NOW - age - dt.timedelta(minutes=1)), BUSY, NOW, settings)
    young = decide(claimed(started_at=NOW - age + dt.timedelta(minutes=1)), BUSY, NOW, settings)
    assert (old.status, old.attempts, old.retry_at) == (DeliveryStatus.FAILED, 1, None)
    assert young.status == DeliveryStatus.DEFERRED


def test_a_permanent_failure_fails_and_suppresses_only_a_dead_address(
    settings: Settings,
) -> None:
    spam = SendResult(Outcome.PERMANENT, 554, "5.7.1 rejected as spam")
    rejected = decide(claimed(), spam, NOW, settings)
    unknown = decide(claimed(), UNKNOWN, NOW, settings)
    assert (rejected.status, rejected.suppress) == (DeliveryStatus.FAILED, None)
    assert unknown == Decision(
        7,
        DeliveryStatus.FAILED,
        1,
        code=550,
        error=UNKNOWN.text,
        suppress=SuppressionReason.UNKNOWN_USER,
        email="ada@example.com",
    )


def test_a_transient_failure_never_suppresses(settings: Settings) -> None:
    busy = dataclasses.replace(BUSY, suppress=SuppressionReason.UNKNOWN_USER)
    assert decide(claimed(), busy, NOW, settings).suppress is None


def test_a_long_answer_is_kept_to_a_thousand_characters(settings: Settings) -> None:
    chatty = SendResult(Outcome.PERMANENT, 554, "x" * 5000)
    assert decide(claimed(), chatty, NOW, settings).error == "x" * 1000


def test_retry_delay_grows_exponentially_with_jitter(settings: Settings) -> None:
    delays = [retry_delay(n, settings).total_seconds() for n in range(1, 9)]
    assert 30 <= delays[0] <= 60 and 60 <= delays[1] <= 120 and 120 <= delays[2] <= 240
    assert all(1800 <= d <= 3600 for d in delays[6:])  # capped at an hour


# The decisions, written.


def test_a_batch_is_written_as_decided(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    start_edition(sessions, W48, settings)
    batch = committed(sessions, claimed_batch, "w", committed(sessions, claim, "w", settings))
    unsent = SendResult(Outcome.UNSENT, 421, "4.3.2 shutting down")
    answers = {1: BUSY, 2: UNKNOWN, 3: unsent}
    results = [answers.get(c.delivery_id, SendResult.accepted()) for c in batch.deliveries]
    report = SendReport(sent=10)
    record_results(sessions, "w", batch.deliveries, results, settings, report)
    assert (report.sent, report.deferred, report.failed) == (15, 1, 1)  # added to what it had
    with sessions() as session:
        rows = {
            row.id: row
            for row in session.execute(
                select(
                    Delivery.id,
                    Delivery.status,
                    Delivery.attempts,
                    Delivery.next_attempt_at,
                    Delivery.last_code,
                    Delivery.lease_owner,
                    Delivery.sent_at,
                )
            )
        }
        suppressed = session.execute(select(Suppression.email, Suppression.detail)).all()
        unknown = session.scalar(select(Subscriber.email).join(Delivery).where(Delivery.id == 2))
    assert all(row.lease_owner is None for row in rows.values())
    assert (rows[1].status, rows[1].attempts, rows[1].last_code) == ("deferred", 1, 451)
    assert rows[1].next_attempt_at is not None
    assert (rows[2].status, rows[2].attempts, rows[2].last_code) == ("failed", 1, 550)
    assert (rows[3].status, rows[3].attempts, rows[3].sent_at) == ("queued", 0, None)
    sent = [rows[i] for i in range(4, 9)]
    assert all((r.status, r.attempts, r.last_code) == ("sent", 1, None) for r in sent)
    assert all(r.sent_at is not None for r in sent)
    assert suppressed == [(unknown, "550 5.1.1 User unknown")]


def test_results_for_deliveries_another_worker_holds_are_not_written(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    """A worker whose lease ran out (its batch claimed by another) records
    nothing over the other worker's claim."""
    build_sample_week(sessions, small, renderer)
    start_edition(sessions, W48, small)
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=small.lease_seconds + 1)
    ids = committed(sessions, claim, "slowpoke", small, now=earlier)
    batch = committed(sessions, claimed_batch, "slowpoke", ids)
    assert committed(sessions, claim, "other", small) == ids
    accepted = [SendResult.accepted()] * len(ids)
    record_results(sessions, "slowpoke", batch.deliveries, accepted, small, SendReport())
    with sessions() as session:
        rows = set(
            session.execute(
                select(Delivery.status, Delivery.lease_owner).where(Delivery.id.in_(ids))
            )
        )
    assert rows == {("queued", "other")}


def test_an_edition_is_finished_once_nothing_is_pending(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    counts = start_edition(sessions, W48, settings)
    with sessions.begin() as session:
        session.execute(
            update(Delivery).where(Delivery.id != 8).values(status=DeliveryStatus.SENT, attempts=1)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == 8)
            .values(status=DeliveryStatus.DEFERRED, attempts=1)
        )
    assert not finish_if_done(sessions, counts.edition_id)  # a retry is still pending
    with sessions.begin() as session:
        session.execute(
            update(Delivery).where(Delivery.id == 8).values(status=DeliveryStatus.FAILED)
        )
    assert finish_if_done(sessions, counts.edition_id)
    assert not finish_if_done(sessions, counts.edition_id)  # once
    assert edition_counts(sessions, counts.edition_id).status == "sent"


# Through a whole send.


def test_transient_failures_are_retried_with_backoff_then_fail(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    quick = dataclasses.replace(settings, max_attempts=3, retry_base_seconds=0, retry_cap_seconds=0)
    build_sample_week(sessions, quick, renderer)
    backend = Scripted({"ada@example.com": BUSY})
    report, status = send_edition(sessions, W48, quick, backend)
    # Due again at once (zero backoff), so one run retries it to the limit.
    assert (report.sent, report.deferred, report.failed, status) == (7, 2, 1, "sent")
    with sessions() as session:
        ada = session.scalars(
            select(Delivery).join(Subscriber).where(Subscriber.email == "ada@example.com")
        ).one()
    assert (ada.status, ada.attempts, ada.last_code) == ("failed", 3, 451)
    assert ada.last_error == "4.3.0 try again later"


def test_deferred_deliveries_wait_for_their_next_attempt(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    backend = Scripted({"ada@example.com": SendResult(Outcome.TRANSIENT, None, "timed out")})
    report, status = send_edition(sessions, W48, settings, backend)
    assert (report.deferred, status) == (1, "sending")
    with sessions() as session:
        ada = session.scalars(select(Delivery).where(Delivery.status == "deferred")).one()
    wait = ada.next_attempt_at - dt.datetime.now(dt.UTC)  # type: ignore[operator]
    assert dt.timedelta(seconds=25) < wait <= dt.timedelta(seconds=61)
    backend.answers.clear()
    again, status = send_edition(sessions, W48, settings, backend)
    assert (again.sent, status) == (0, "sending")  # not due yet


def test_unknown_users_fail_and_are_suppressed(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    backend = Scripted(
        {
            "ada@example.com": SendResult(
                Outcome.PERMANENT,
                550,
                "5.1.1 <ada@example.com>: User unknown",
                suppress=SuppressionReason.UNKNOWN_USER,
            ),
            "zoe@example.org": SendResult(Outcome.PERMANENT, 554, "5.7.1 Message rejected as spam"),
        }
    )
    report, status = send_edition(sessions, W48, settings, backend)
    assert (report.sent, report.failed, status) == (6, 2, "sent")
    with sessions() as session:
        suppressed = list(session.scalars(select(Suppression.email)))
    assert suppressed == ["ada@example.com"]  # the backend said so for ada only
