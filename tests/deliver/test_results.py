"""Results: send results written back to their deliveries: sent, retried
with backoff, failed, suppressed."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support.sending import W48, Scripted, built
from worker.config import Settings
from worker.deliver.results import retry_delay
from worker.deliver.runner import send_edition
from worker.domain.suppression import SuppressionReason
from worker.mail.base import Outcome, SendResult
from worker.render.renderer import Renderer
from worker.store.models import Delivery, Subscriber, Suppression


def test_transient_failures_are_retried_with_backoff_then_fail(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    quick = dataclasses.replace(settings, max_attempts=3, retry_base_seconds=0, retry_cap_seconds=0)
    built(sessions, quick, renderer)
    busy = SendResult(Outcome.TRANSIENT, 451, "4.3.0 try again later")
    backend = Scripted({"ada@example.com": busy})
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
    built(sessions, settings, renderer)
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


def test_retry_delay_grows_exponentially_with_jitter(settings: Settings) -> None:
    delays = [retry_delay(n, settings).total_seconds() for n in range(1, 9)]
    assert 30 <= delays[0] <= 60 and 60 <= delays[1] <= 120 and 120 <= delays[2] <= 240
    assert all(1800 <= d <= 3600 for d in delays[6:])  # capped at an hour


def test_unknown_users_fail_and_are_suppressed(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    built(sessions, settings, renderer)
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
