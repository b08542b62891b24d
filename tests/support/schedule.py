"""What the schedule's tests share: Berlin wall-clock times, a week's
content in a store, and what the schedule made of it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.editorial import read_edition_file
from worker.domain.states import SubscriberStatus
from worker.domain.weeks import Week
from worker.store.models import Delivery, Edition, EditorCopy, Subscriber, Tool

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def berlin(*fields: int) -> dt.datetime:
    """A Berlin wall-clock time, as an instant in UTC."""
    return dt.datetime(*fields, tzinfo=BERLIN).astimezone(UTC)  # type: ignore[misc]


def utc(*fields: int) -> dt.datetime:
    """A time in UTC."""
    return dt.datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def without_feeds(settings: Settings, folder: Path) -> Settings:
    """``settings`` (the default schedule, build Monday 18:00 and send
    Tuesday 09:00, in Europe/Berlin) with a feeds file in ``folder`` that
    lists none."""
    (folder / "no-feeds.toml").write_text("")
    return dataclasses.replace(settings, feeds_file=folder / "no-feeds.toml")


def add_week_content(sessions: sessionmaker[Session], day: dt.date, subscribers: int = 3) -> None:
    """A tool launched on ``day`` (its week's content) and ``subscribers``
    confirmed subscribers, reader0@example.com and on."""
    with sessions.begin() as session:
        session.add(
            Tool(
                slug=f"tool-{day}",
                name=f"Tool of {day}",
                category="Developer Tools",
                launched_on=day,
            )
        )
        for n in range(subscribers):
            session.add(
                Subscriber(
                    email=f"reader{n}@example.com",
                    status=SubscriberStatus.CONFIRMED,
                    confirmed_at=dt.datetime(2026, 1, 1, tzinfo=UTC),
                )
            )


def edition(sessions: sessionmaker[Session], week: Week) -> Edition | None:
    """The edition of ``week``, if built."""
    with sessions() as session:
        return session.scalars(select(Edition).where(Edition.week == str(week))).one_or_none()


def deliveries(sessions: sessionmaker[Session]) -> int:
    """How many deliveries the store holds."""
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def store_send_at(
    sessions: sessionmaker[Session], settings: Settings, week: Week, local: dt.datetime | None
) -> dt.datetime | None:
    """``week``'s edition file, stored as ``digest edition`` stores it, with
    ``send_at:`` the wall-clock time ``local`` in DIGEST_TIMEZONE (None: no
    send_at); that time in UTC, as stored. The seconds of ``local``, which
    a file cannot give, are kept: for tests that wait in real time."""
    source = f"---\nsend_at: {local:%Y-%m-%d %H:%M}\n---\n" if local else "---\n---\n"
    send_at = read_edition_file(source).send_at_in(settings.timezone)
    stored = send_at.replace(second=local.second).astimezone(UTC) if send_at and local else None
    with sessions.begin() as session:
        session.execute(
            delete(EditorCopy).where(
                EditorCopy.list_id == settings.list_id, EditorCopy.name == str(week)
            )
        )
        session.add(
            EditorCopy(list_id=settings.list_id, name=str(week), source=source, send_at=stored)
        )
    return stored
