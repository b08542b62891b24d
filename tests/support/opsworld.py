"""What the operator's tests share: a store mid-send, and a client of the
web app that serves ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.sample import W48, build_sample_week
from worker.config import Settings
from worker.deliver.editions import start_edition
from worker.domain.states import DeliveryStatus, EditionStatus, SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.store.models import Delivery, Edition, Feed, Subscriber, Suppression

NOW = dt.datetime.now(dt.UTC)


def client_for(settings: Settings, sessions: sessionmaker[Session]) -> FlaskClient:
    """A test client of the web app on ``sessions``."""
    app: Flask = create_app(settings, sessions=sessions)
    app.config["TESTING"] = True
    return app.test_client()


def store_mid_send(sessions: sessionmaker[Session], settings: Settings) -> dict[str, object]:
    """A store mid-send: the week started two hours ago with deliveries in
    every state, an older edition sent, feeds good and bad, subscribers and
    suppressions of several kinds."""
    build_sample_week(sessions, settings)
    start_edition(sessions, W48, settings)
    started = NOW - dt.timedelta(hours=2)
    due = NOW - dt.timedelta(minutes=10)
    fetched = NOW - dt.timedelta(minutes=30)
    with sessions.begin() as session:
        session.execute(update(Edition).values(started_at=started))
        _deliveries_in_every_state(session, due)
        _other_editions(session, settings)
        _feeds(session, fetched)
        _list_members(session)
    return {"started": started, "due": due, "fetched": fetched}


def _deliveries_in_every_state(session: Session, due: dt.datetime) -> None:
    ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
    assert len(ids) == 8
    plan = [
        (DeliveryStatus.SENT, None),
        (DeliveryStatus.SENT, None),
        (DeliveryStatus.SENT, None),
        (DeliveryStatus.FAILED, None),
        (DeliveryStatus.DEFERRED, due),
        (DeliveryStatus.DEFERRED, NOW + dt.timedelta(hours=1)),
        (DeliveryStatus.SUPPRESSED, None),
    ]  # the eighth stays queued
    for delivery_id, (status, next_at) in zip(ids, plan, strict=False):
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status=status, next_attempt_at=next_at)
        )


def _other_editions(session: Session, settings: Settings) -> None:
    """Last week's, sent; and one of another list, which no figure counts."""
    a_week_ago = NOW - dt.timedelta(days=7)
    session.add_all(
        [
            Edition(
                list_id=settings.list_id,
                week="2026-W47",
                status=EditionStatus.SENT,
                started_at=a_week_ago,
                sent_at=a_week_ago,
            ),
            Edition(list_id="other-list", week="2026-W48", status=EditionStatus.READY),
        ]
    )


def _feeds(session: Session, fetched: dt.datetime) -> None:
    session.add_all(
        [
            Feed(url="https://a.example/feed", last_fetched_at=fetched - dt.timedelta(hours=1)),
            Feed(
                url="https://b.example/feed",
                last_fetched_at=fetched,
                error_count=2,
                last_error="HTTP 500",
            ),
            Feed(
                url="https://c.example/feed",
                active=False,
                error_count=1,
                last_error="HTTP 410: gone",
            ),
        ]
    )


def _list_members(session: Session) -> None:
    session.add_all(
        [
            Subscriber(email="new@example.com", status=SubscriberStatus.PENDING),
            Subscriber(email="left@example.com", status=SubscriberStatus.UNSUBSCRIBED),
            Suppression(email="x@example.com", reason=SuppressionReason.COMPLAINT),
            Suppression(email="y@example.com", reason=SuppressionReason.MANUAL),
            Suppression(email="z@example.com", reason=SuppressionReason.MANUAL),
        ]
    )
