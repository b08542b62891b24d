"""The outbox's writer (worker/store/outbox.py) at every change that causes
an event, on both stores: the CSV import, the admin's add, intake's bounces
and complaints, a relay's "user unknown" during a send, a queued one-click
unsubscribe, and never outside the change's transaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers import admin, consent
from subscribers.csvio import import_csv
from subscribers.intake.records import IntakeRecord, apply
from subscribers.web import spool
from tests.support.sample import W48, build_sample_week
from tests.support.sending import Scripted
from tests.support.webhooks import recording, stored_events
from worker.config import Settings
from worker.deliver.runner import send_edition
from worker.domain.suppression import IntakeKind, SuppressionReason
from worker.domain.webhooks import EventType
from worker.mail.base import Outcome, SendResult
from worker.now import process_now
from worker.store.models import Subscriber, WebhookEvent
from worker.store.outbox import record_event, with_events
from worker.store.outbox import recording as is_recording


@pytest.fixture
def events(engine: Engine) -> sessionmaker[Session]:
    return recording(engine)


def bodies(sessions: sessionmaker[Session]) -> list[dict[str, object]]:
    with sessions() as session:
        return [
            json.loads(b)
            for b in session.scalars(select(WebhookEvent.body).order_by(WebhookEvent.id))
        ]


def types(sessions: sessionmaker[Session]) -> list[tuple[str, int | None]]:
    return [(event_type, who) for _, _, event_type, who in stored_events(sessions)]


def test_an_import_records_each_arrival_then_its_suppression(
    events: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "email,status,suppressed\n"
        "ann@example.org,confirmed,\n"
        "bob@example.org,pending,\n"
        "cat@example.org,confirmed,complaint\n",
        encoding="utf-8",
    )
    import_csv(events, path)
    ids = {s.email: s.id for s in _subscribers(events)}
    ann, bob, cat = ids["ann@example.org"], ids["bob@example.org"], ids["cat@example.org"]
    assert types(events) == [
        ("subscriber.created", ann),
        ("subscriber.confirmed", ann),
        ("subscriber.created", bob),
        ("subscriber.created", cat),  # held back: stored unsubscribed
        ("subscriber.suppressed", cat),
    ]
    suppressed = bodies(events)[-1]
    assert suppressed["data"] == {
        **bodies(events)[-2]["data"],  # type: ignore[dict-item]
        "reason": "complaint",
    }
    # Imported again: nobody new, nothing recorded.
    import_csv(events, path)
    assert len(stored_events(events)) == 5


def test_an_operator_adds_a_subscriber_created_and_confirmed(
    events: sessionmaker[Session],
) -> None:
    with events.begin() as session:
        added = admin.add_subscriber(
            session, "dee@example.org", "Dee", ["Design"], confirmed=True, now=process_now()
        )
    assert types(events) == [
        ("subscriber.created", added.subscriber_id),
        ("subscriber.confirmed", added.subscriber_id),
    ]
    data = bodies(events)[1]["data"]
    assert data == {
        "subscriber_id": added.subscriber_id,
        "email": "dee@example.org",
        "status": "confirmed",
        "categories": ["Design"],
        "created_at": data["created_at"],  # type: ignore[index]
        "confirmed_at": data["confirmed_at"],  # type: ignore[index]
        "unsubscribed_at": None,
    }
    assert "Dee" not in json.dumps(bodies(events))  # no name: what a receiver needs only


def test_bounces_and_complaints_record_their_suppression_with_the_reason(
    events: sessionmaker[Session], settings: Settings
) -> None:
    with events.begin() as session:
        ada = admin.add_subscriber(
            session, "ada@example.org", None, [], confirmed=True, now=process_now()
        )
        eve = admin.add_subscriber(
            session, "eve@example.org", None, [], confirmed=True, now=process_now()
        )
    with events.begin() as session:
        apply(
            session,
            [
                IntakeRecord("test", "1", IntakeKind.HARD_BOUNCE, "ada@example.org"),
                IntakeRecord("test", "2", IntakeKind.COMPLAINT, "eve@example.org"),
                IntakeRecord("test", "3", IntakeKind.COMPLAINT, "eve@example.org"),  # again
                IntakeRecord("test", "4", IntakeKind.HARD_BOUNCE, "nobody@example.org"),
            ],
            soft_bounce_limit=settings.soft_bounce_limit,
        )
    later = types(events)[4:]
    assert later == [
        ("subscriber.suppressed", ada.subscriber_id),
        ("subscriber.unsubscribed", eve.subscriber_id),
        ("subscriber.suppressed", eve.subscriber_id),
        ("subscriber.suppressed", None),
    ]
    reasons = [(b["data"]["email"], b["data"].get("reason")) for b in bodies(events)[4:]]  # type: ignore[index]
    assert reasons == [
        ("ada@example.org", "hard_bounce"),
        ("eve@example.org", None),
        ("eve@example.org", "complaint"),
        ("nobody@example.org", "hard_bounce"),
    ]


def test_a_relays_user_unknown_during_a_send_records_the_suppression(
    events: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(events, settings)
    unknown = SendResult(
        Outcome.PERMANENT, 550, "5.1.1 User unknown", suppress=SuppressionReason.UNKNOWN_USER
    )
    send_edition(events, W48, settings, Scripted({"zoe@example.org": unknown}))
    zoe = next(s.id for s in _subscribers(events) if s.email == "zoe@example.org")
    assert types(events)[-2:] == [("subscriber.suppressed", zoe), ("edition.sent", None)]
    sent = bodies(events)[-1]["data"]
    assert sent["counts"] == {"failed": 1, "sent": 7}  # type: ignore[index]


def test_a_queued_one_click_unsubscribe_records_its_event_when_applied(
    events: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    with events.begin() as session:
        added = admin.add_subscriber(
            session, "q@example.org", None, [], confirmed=True, now=process_now()
        )
    spool.queue(tmp_path, added.subscriber_id, process_now())
    assert spool.apply_queued(tmp_path, with_events(engine, True)) == 1
    assert types(events)[-1] == ("subscriber.unsubscribed", added.subscriber_id)


def test_an_event_is_never_written_apart_from_its_change(
    events: sessionmaker[Session], engine: Engine
) -> None:
    with events.begin() as session:
        added = admin.add_subscriber(
            session, "a@example.org", None, [], confirmed=True, now=process_now()
        )
    on = with_events(engine, True)
    with on.connect() as connection:
        assert is_recording(connection)
    with engine.connect() as connection:
        assert not is_recording(connection)
    for change in (
        lambda c: record_event(c, EventType.SUBSCRIBER_CONFIRMED, {}, added.subscriber_id),
        lambda c: consent.unsubscribe(c, added.subscriber_id, process_now()),
    ):
        autocommit = on.connect().execution_options(isolation_level="AUTOCOMMIT")
        with autocommit as connection, pytest.raises(RuntimeError, match="not autocommit"):
            change(connection)
    with events() as session:
        # Refused before the change was made.
        assert session.get(Subscriber, added.subscriber_id).status == "confirmed"  # type: ignore[union-attr]
    assert len(stored_events(events)) == 2


def add(session: Session, address: str) -> admin.Added:
    """A subscriber an operator added, confirmed."""
    return admin.add_subscriber(session, address, None, [], confirmed=True, now=process_now())


def _subscribers(sessions: sessionmaker[Session]) -> list[Subscriber]:
    with sessions() as session:
        return list(session.scalars(select(Subscriber)))
