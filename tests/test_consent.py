"""Consent rules, whoever asks: suppression, confirmation, unsubscribe."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from subscribers import consent
from subscribers.roster import candidate
from worker.store.models import Subscriber, SubscriberStatus, SuppressionReason

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


def test_suppress_says_whether_the_address_was_new(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        assert consent.suppress(session, "x@example.com", SuppressionReason.MANUAL)
        assert not consent.suppress(session, "x@example.com", SuppressionReason.COMPLAINT)
        assert consent.is_suppressed(session, "x@example.com")
        assert consent.unsuppress(session, "x@example.com")
        assert not consent.unsuppress(session, "x@example.com")


def test_a_suppressed_or_bounced_address_is_never_confirmed(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        outcome, pending = consent.subscribe(session, candidate("p@example.com"))
        assert outcome == consent.SubscribeOutcome.CONFIRM
        consent.suppress(session, "p@example.com", SuppressionReason.HARD_BOUNCE)
        assert not consent.confirm(session, pending.id, "p@example.com", NOW, NOW)
        again, _ = consent.subscribe(session, candidate("p@example.com"))
        assert again == consent.SubscribeOutcome.SUPPRESSED
        assert pending.status == SubscriberStatus.PENDING


def test_a_confirmation_names_the_address_it_was_sent_to(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        _, row = consent.subscribe(session, candidate("a@example.com"))
        assert not consent.confirm(session, row.id, "someone.else@example.com", NOW, NOW)
        assert consent.confirm(session, row.id, "a@example.com", NOW, NOW)
        assert row.status == SubscriberStatus.CONFIRMED
        assert consent.confirm(session, row.id, "a@example.com", NOW, NOW)  # idempotent


def test_unsubscribe_is_idempotent_and_beats_an_older_confirmation(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.add(Subscriber(email="u@example.com", status=SubscriberStatus.CONFIRMED))
    with sessions.begin() as session:
        assert consent.unsubscribe_email(session, "u@example.com", NOW)
        assert not consent.unsubscribe_email(session, "u@example.com", NOW)
        assert not consent.unsubscribe_email(session, "nobody@example.com", NOW)
    with sessions.begin() as session:
        row = session.query(Subscriber).filter_by(email="u@example.com").one()
        earlier = NOW - dt.timedelta(hours=1)
        assert not consent.confirm(session, row.id, "u@example.com", earlier, NOW)
        # Asked again after leaving, and confirmed with the new link: back on.
        later = NOW + dt.timedelta(minutes=5)
        assert consent.confirm(session, row.id, "u@example.com", later, later)
        assert row.status == SubscriberStatus.CONFIRMED and row.unsubscribed_at is None
