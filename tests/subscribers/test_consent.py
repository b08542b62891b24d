"""Consent rules, whoever asks: suppression, confirmation, unsubscribe."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from subscribers import consent
from subscribers.roster import candidate
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.store.models import Subscriber

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


def test_suppress_says_whether_the_address_was_new(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        assert consent.suppress(session, "x@example.com", SuppressionReason.MANUAL)
        assert not consent.suppress(session, "x@example.com", SuppressionReason.COMPLAINT)
        assert consent.is_suppressed(session, "x@example.com")
        assert consent.unsuppress(session, "x@example.com")
        assert not consent.unsuppress(session, "x@example.com")


def test_a_suppressed_address_is_never_stored_nor_confirmed(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        outcome, pending = consent.subscribe(session, candidate("p@example.com"), NOW)
        assert outcome == consent.SubscribeOutcome.CONFIRM and pending is not None
        consent.suppress(session, "p@example.com", SuppressionReason.HARD_BOUNCE)
        refused = consent.confirm(session, pending.id, "p@example.com", NOW, NOW)
        assert refused == consent.ConfirmOutcome.REFUSED
        again, nobody = consent.subscribe(session, candidate("p@example.com"), NOW)
        assert again == consent.SubscribeOutcome.SUPPRESSED and nobody is None
        consent.suppress(session, "s@example.com", SuppressionReason.COMPLAINT)
        assert consent.subscribe(session, candidate("s@example.com"), NOW)[1] is None
    with sessions() as session:
        assert session.query(Subscriber).filter_by(email="s@example.com").count() == 0
        stored = session.query(Subscriber).filter_by(email="p@example.com").one()
        assert stored.status == SubscriberStatus.PENDING


def test_a_confirmation_names_the_address_it_was_sent_to(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        _, row = consent.subscribe(session, candidate("a@example.com"), NOW)
        assert row is not None
        other = consent.confirm(session, row.id, "someone.else@example.com", NOW, NOW)
        assert other == consent.ConfirmOutcome.REFUSED
        first = consent.confirm(session, row.id, "a@example.com", NOW, NOW)
        assert first == consent.ConfirmOutcome.CONFIRMED
        second = consent.confirm(session, row.id, "a@example.com", NOW, NOW)
        assert second == consent.ConfirmOutcome.ALREADY
    with sessions() as session:
        stored = session.get(Subscriber, row.id)
        assert stored is not None and stored.status == SubscriberStatus.CONFIRMED


def test_a_pending_request_asked_again_starts_its_window_again(
    sessions: sessionmaker[Session],
) -> None:
    week_ago = NOW - dt.timedelta(days=6, hours=23)
    with sessions.begin() as session:
        consent.subscribe(session, candidate("slow@example.com"), week_ago)
    with sessions.begin() as session:
        consent.subscribe(session, candidate("slow@example.com"), NOW)
        gone = consent.expire_pending(session, NOW + dt.timedelta(hours=2), dt.timedelta(days=7))
        assert gone == 0


def test_unsubscribe_is_idempotent_and_beats_an_older_confirmation(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        row = Subscriber(email="u@example.com", status=SubscriberStatus.CONFIRMED)
        session.add(row)
    with sessions.begin() as session:
        assert consent.unsubscribe(session, row.id, NOW)
        assert not consent.unsubscribe(session, row.id, NOW)
    with sessions.begin() as session:
        earlier = NOW - dt.timedelta(hours=1)
        assert consent.confirm(session, row.id, "u@example.com", earlier, NOW) == (
            consent.ConfirmOutcome.REFUSED
        )
        # Asked again after leaving, and confirmed with the new link: back on.
        later = NOW + dt.timedelta(minutes=5)
        assert consent.confirm(session, row.id, "u@example.com", later, later) == (
            consent.ConfirmOutcome.CONFIRMED
        )
    with sessions() as session:
        back = session.get(Subscriber, row.id)
        assert back is not None and back.status == SubscriberStatus.CONFIRMED
        assert back.unsubscribed_at is None
