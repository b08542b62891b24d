"""Subscribers put straight into a store, for tests that start from a list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from worker.domain.states import SubscriberStatus
from worker.domain.tokens import CONFIRM_WINDOW
from worker.store.models import Subscriber, Suppression, Tool


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


def set_zones(sessions: sessionmaker[Session], zones: Mapping[str, str]) -> None:
    """Each address of ``zones`` gets its IANA zone (``subscriber.timezone``)."""
    with sessions.begin() as session:
        for address, zone in zones.items():
            session.execute(
                update(Subscriber).where(Subscriber.email == address).values(timezone=zone)
            )


def a_mixed_list(sessions: sessionmaker[Session], now: dt.datetime) -> None:
    """Subscribers of every status, segment and pause, a stale pending one,
    and suppressions of three reasons (one of a stranger), as at ``now``:
    five confirmed, three of whom receive the next edition."""
    week = dt.timedelta(days=7)
    with sessions.begin() as session:
        session.add_all(
            [
                Subscriber(email="all@example.com", status="confirmed"),
                Subscriber(email="all2@example.com", status="confirmed"),
                Subscriber(email="held@example.com", status="confirmed", categories="A|B"),
                Subscriber(
                    email="away@example.com",
                    status="confirmed",
                    categories="B",
                    paused_until=now + 2 * week,
                ),
                Subscriber(
                    email="back@example.com",
                    status="confirmed",
                    categories="B",
                    paused_until=now - week,
                ),
                Subscriber(email="new@example.com", status="pending", created_at=now),
                Subscriber(
                    email="stale@example.com",
                    status="pending",
                    created_at=now - CONFIRM_WINDOW - dt.timedelta(hours=1),
                ),
                Subscriber(email="left@example.com", status="unsubscribed", categories="C"),
                Subscriber(email="bounced@example.com", status="bounced"),
                Suppression(email="held@example.com", reason="complaint"),
                Suppression(email="bounced@example.com", reason="hard_bounce"),
                Suppression(email="stranger@example.com", reason="manual"),
            ]
        )


def tools_of(sessions: sessionmaker[Session], *categories: str) -> None:
    """A tool of each of ``categories``: what a reader may choose from."""
    with sessions.begin() as session:
        session.add_all(
            Tool(slug=f"tool-{n}", name=f"Tool {n}", category=category)
            for n, category in enumerate(categories)
        )
