"""Subscribers put straight into a store, for tests that start from a list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from worker.domain.states import SubscriberStatus
from worker.store.models import Subscriber


def add_confirmed(sessions: sessionmaker[Session], address: str, categories: str = "") -> int:
    """A confirmed subscriber of ``categories`` (every category: ""); its id."""
    with sessions.begin() as session:
        row = Subscriber(
            email=address,
            status=SubscriberStatus.CONFIRMED,
            categories=categories,
            confirmed_at=dt.datetime.now(dt.UTC),
        )
        session.add(row)
        session.flush()
        return row.id
