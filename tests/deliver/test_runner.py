"""The runner: a worker claims, sends and records batches; every confirmed
subscriber gets one copy, through unsubscribes, crashes, slow relays, a
store that drops out, pauses and a backend that is down."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
import threading
import time
from collections.abc import Iterable

import pytest
from sqlalchemy import Connection, Engine, event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, build_sample_week, load_sample
from tests.support.sending import Scripted, committed, leased, recipients
from worker.config import Settings
from worker.deliver.claims import claim
from worker.deliver.editions import (
    EditionStateError,
    build_edition,
    cancel_edition,
    edition_counts,
    set_paused,
    start_edition,
)
from worker.deliver.results import SendReport
from worker.deliver.runner import Worker, send_edition
from worker.domain.states import SubscriberStatus
from worker.domain.weeks import Week
from worker.errors import MailError
from worker.mail import backend_from_url
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult
from worker.render.renderer import Renderer
from worker.store.models import Delivery, Edition, Subscriber, Suppression


def test_send_delivers_once_to_every_confirmed_subscriber(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer, outbox: list
) -> None:
    load_sample(sessions)
    with sessions.begin() as session:
        session.add(Subscriber(email="pending@example.com", status=SubscriberStatus.PENDING))
        session.add(Subscriber(email="left@example.com", status=SubscriberStatus.UNSUBSCRIBED))
    build_edition(sessions, W48, small, renderer)
    report, status = send_edition(sessions, W48, small, backend_from_url("memory://"))
    assert (report.sent, report.failed, report.batches, status) == (8, 0, 3, "sent")
    with sessions() as session:
        confirmed = sorted(
            session.scalars(
                select(Subscriber.email).where(Subscriber.status == SubscriberStatus.CONFIRMED)
            )
        )
        assert session.scalar(select(func.count()).select_from(Delivery)) == 8
    assert recipients(outbox) == confirmed

    again, status = send_edition(sessions, W48, small, backend_from_url("memory://"))
    rebuilt = build_edition(sessions, W48, small, renderer)
    assert (again.sent, status) == (0, "sent")
    assert not rebuilt.built
    assert len(outbox) == 8


def test_each_segment_gets_its_own_digest(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer, outbox: list
) -> None:
    build_sample_week(sessions, settings, renderer)
    send_edition(sessions, W48, settings, backend_from_url("memory://"))
    by_address = {
        m.recipient: email.message_from_bytes(m.data, policy=email.policy.default) for m in outbox
    }
    design = by_address["jose@example.net"].get_body(("plain",)).get_content()
    everything = by_address["ada@example.com"].get_body(("plain",)).get_content()
    assert "Prismatic Canvas" in design and "Claude Files API" not in design
    assert "Prismatic Canvas" in everything and "Claude Files API" in everything


def test_an_unsubscribe_during_the_send_is_honoured_from_the_next_batch(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer, outbox: list
) -> None:
    build_sample_week(sessions, small, renderer)

    def leave_after_first_batch(report: SendReport) -> None:
        if report.batches > 1:
            return
        with sessions.begin() as session:
            session.execute(
                update(Subscriber)
                .where(Subscriber.email == "barbara@example.com")
                .values(status=SubscriberStatus.UNSUBSCRIBED)
            )
            session.add(Suppression(email="linus@example.net", reason="manual"))

    report, status = send_edition(
        sessions, W48, small, backend_from_url("memory://"), on_batch=leave_after_first_batch
    )
    assert "barbara@example.com" not in recipients(outbox)
    assert "linus@example.net" not in recipients(outbox)
    assert (report.sent, report.suppressed, status) == (6, 2, "sent")
    counts = edition_counts(sessions, 1)
    assert (counts.sent, counts.suppressed, counts.pending) == (6, 2, 0)


def test_an_interrupted_send_resumes_without_a_second_copy(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer, outbox: list
) -> None:
    build_sample_week(sessions, small, renderer)

    class Crash(Exception):
        pass

    def crash(_report: SendReport) -> None:
        raise Crash

    with pytest.raises(Crash):
        send_edition(sessions, W48, small, backend_from_url("memory://"), on_batch=crash)
    assert len(outbox) == 3
    report, status = send_edition(sessions, W48, small, backend_from_url("memory://"))
    assert (report.sent, status) == (5, "sent")
    assert len(recipients(outbox)) == len(set(recipients(outbox))) == 8


def test_the_batch_claimed_ahead_is_released_when_the_worker_stops(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer, outbox: list
) -> None:
    """While a batch goes out the worker claims the next one; stopped after
    that batch, it releases it at once instead of letting its lease run out."""
    build_sample_week(sessions, small, renderer)
    start_edition(sessions, W48, small)
    worker = Worker(sessions, small, backend_from_url("memory://"), "w")
    worker.on_batch = lambda _report: worker.stop.set()
    report = worker.run()
    assert report.sent == 3
    assert leased(sessions) == 0
    assert committed(sessions, claim, "other", small) == [4, 5, 6]  # the batch ahead, free


def test_a_message_that_cannot_be_composed_fails_alone(
    sessions: sessionmaker[Session],
    small: Settings,
    renderer: Renderer,
    outbox: list,
) -> None:
    """Whatever one recipient's data does to the composer, the rest of the
    batch and of the edition goes out. Here an address with a non-ASCII
    local part, which the web app and the import refuse but which reached
    the store some other way, cannot go into an ASCII To: line."""
    build_sample_week(sessions, small, renderer)
    with sessions.begin() as session:
        session.execute(
            update(Subscriber)
            .where(Subscriber.email == "ada@example.com")
            .values(email="adá@example.com")
        )
    report, status = send_edition(sessions, W48, small, backend_from_url("memory://"))
    assert (report.sent, report.failed, status) == (7, 1, "sent")
    assert "adá@example.com" not in recipients(outbox) and len(outbox) == 7
    with sessions() as session:
        ada = session.scalars(
            select(Delivery).join(Subscriber).where(Subscriber.email == "adá@example.com")
        ).one()
    assert ada.status == "failed" and ada.last_error.startswith("cannot compose:")


class Slow(MailBackend):
    """Accepts everything, slowly: a relay at a rate limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(backend_from_url("memory://").url)
        self.seconds = seconds
        self.sent: list[str] = []

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            time.sleep(self.seconds)
            self.sent.append(message.recipient)
            results.append(SendResult.accepted())
        return results


def test_a_batch_slower_than_its_lease_is_still_sent_once(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    """Two workers, batches that take twice the lease: the leases of the
    batch in hand (and of the one claimed ahead) are renewed, so neither
    worker claims the other's."""
    slow = dataclasses.replace(settings, batch_size=2, lease_seconds=0.3)
    build_sample_week(sessions, slow, renderer)
    start_edition(sessions, W48, slow)
    backends = [Slow(0.3), Slow(0.3)]
    workers = [Worker(sessions, slow, b, f"w{n}") for n, b in enumerate(backends)]
    threads = [threading.Thread(target=w.run, kwargs={"until_idle": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    sent = [address for b in backends for address in b.sent]
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 8
    assert edition_counts(sessions, 1).status == "sent"


def test_a_relay_that_refuses_the_sender_charges_no_subscriber(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    refusing = Scripted({})
    refusing.send_batch = lambda messages: [  # type: ignore[method-assign]
        SendResult(Outcome.UNSENT, 553, "5.7.1 sender not allowed") for _ in messages
    ]
    with pytest.raises(MailError, match="sender not allowed"):
        send_edition(sessions, W48, settings, refusing)
    counts = start_edition(sessions, W48, settings)
    assert (counts.status, counts.queued, counts.failed) == ("sending", 8, 0)
    with sessions() as session:
        rows = session.execute(select(Delivery.attempts, Delivery.lease_owner)).all()
    assert all(row == (0, None) for row in rows)
    report, status = send_edition(sessions, W48, settings, backend_from_url("memory://"))
    assert (report.sent, status) == (8, "sent")


def test_a_batch_whose_record_fails_once_is_recorded_not_resent(
    sessions: sessionmaker[Session],
    engine: Engine,
    small: Settings,
    renderer: Renderer,
    outbox: list,
) -> None:
    """The store drops the connection as the first batch is recorded: the
    worker tries again (its leases kept alive) instead of leaving a sent
    batch to be claimed and sent again."""
    build_sample_week(sessions, small, renderer)
    dropped: list[str] = []

    def drop_the_first_record(
        connection: Connection, _cursor: object, statement: str, *_args: object
    ) -> None:
        # Recording sends is the one UPDATE that sets sent_at.
        if statement.startswith("UPDATE delivery SET") and "sent_at" in statement and not dropped:
            dropped.append(statement)
            raise connection.dialect.loaded_dbapi.OperationalError(
                "server closed the connection unexpectedly"
            )

    event.listen(engine, "before_cursor_execute", drop_the_first_record)
    try:
        report, status = send_edition(sessions, W48, small, backend_from_url("memory://"))
    finally:
        event.remove(engine, "before_cursor_execute", drop_the_first_record)
    assert len(dropped) == 1  # the store really failed once
    assert (report.sent, status) == (8, "sent")
    assert len(recipients(outbox)) == len(set(recipients(outbox))) == 8


def test_pause_resume_and_cancel(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer, outbox: list
) -> None:
    build_sample_week(sessions, small, renderer)

    def pause_after_first_batch(_report: SendReport) -> None:
        set_paused(sessions, W48, small, paused=True)

    report, status = send_edition(
        sessions, W48, small, backend_from_url("memory://"), on_batch=pause_after_first_batch
    )
    assert (report.sent, status) == (3, "paused")
    assert leased(sessions) == 0  # the batch claimed ahead was released
    with pytest.raises(EditionStateError, match="only a sending edition can be paused"):
        set_paused(sessions, W48, small, paused=True)
    assert set_paused(sessions, W48, small, paused=False) == "sending"
    cancelled = cancel_edition(sessions, W48, small)
    assert (cancelled.status, cancelled.sent, cancelled.queued) == ("cancelled", 3, 5)
    report, status = send_edition(sessions, W48, small, backend_from_url("memory://"))
    assert (report.sent, status) == (0, "cancelled")
    assert len(outbox) == 3


def test_a_backend_that_is_down_hands_the_batch_back(
    sessions: sessionmaker[Session],
    settings: Settings,
    renderer: Renderer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    build_sample_week(sessions, settings, renderer)
    start_edition(sessions, W48, settings)
    worker = Worker(sessions, settings, backend_from_url("smtp://127.0.0.1:9/?timeout=1"), "w")
    worker.stop.set()  # the backoff wait returns at once
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert worker.run_once()
    with sessions() as session:
        rows = session.execute(select(Delivery.attempts, Delivery.lease_owner)).all()
    assert rows and all(row == (0, None) for row in rows)
    said = [r.getMessage() for r in caplog.records if r.name == "worker.deliver"]
    assert len(said) == 1 and "backing off" in said[0]  # once, not once a try


def test_send_reports_a_backend_that_is_down_and_keeps_every_delivery(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    with pytest.raises(MailError, match=r"cannot send through smtp://127\.0\.0\.1:9"):
        send_edition(sessions, W48, settings, backend_from_url("smtp://127.0.0.1:9/?timeout=1"))
    counts = start_edition(sessions, W48, settings)
    assert (counts.status, counts.queued, counts.sent) == ("sending", 8, 0)
    report, status = send_edition(sessions, W48, settings, backend_from_url("memory://"))
    assert (report.sent, status) == (8, "sent")


def test_an_empty_week_is_skipped_and_sends_nothing(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer, outbox: list
) -> None:
    load_sample(sessions)
    result = build_edition(sessions, Week(2026, 47), settings, renderer)
    assert result.status == "skipped"
    report, status = send_edition(sessions, Week(2026, 47), settings, backend_from_url("memory://"))
    assert (report.sent, status) == (0, "skipped") and outbox == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalars(select(Edition.status)).one() == "skipped"


def test_sending_an_unbuilt_week_asks_for_a_build(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with pytest.raises(EditionStateError, match="build it first"):
        send_edition(sessions, W48, settings, backend_from_url("memory://"))
