"""A click counted: one upsert per click, per edition and item, on both stores."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.clicks import count_click
from worker.domain.states import EditionStatus
from worker.store.models import ClickCount, Edition

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def add_edition(
    sessions: sessionmaker[Session], week: str, *, started: bool, list_id: str = "weekly"
) -> int:
    with sessions.begin() as session:
        edition = Edition(
            list_id=list_id,
            week=week,
            status=EditionStatus.SENT if started else EditionStatus.READY,
            started_at=T0 if started else None,
        )
        session.add(edition)
        session.flush()
        return edition.id


def counts(
    sessions: sessionmaker[Session],
) -> dict[tuple[int, str], tuple[int, dt.datetime, dt.datetime]]:
    with sessions() as session:
        return {
            (c.edition_id, c.item): (c.clicks, c.first_at, c.last_at)
            for c in session.scalars(select(ClickCount))
        }


def test_clicks_are_counted_per_edition_and_item(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    w48 = add_edition(sessions, "2026-W48", started=True)
    w49 = add_edition(sessions, "2026-W49", started=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as store:
        for minute, week, item in [
            (0, "2026-W48", "launch:parcelbot"),
            (1, "2026-W48", "launch:parcelbot"),
            (2, "2026-W48", "comparison:a-vs-b"),
            (3, "2026-W49", "launch:parcelbot"),
            (4, "2026-W48", "launch:parcelbot"),
        ]:
            at = T0 + dt.timedelta(minutes=minute)
            assert count_click(store, "weekly", week, item, at) is True
    assert counts(sessions) == {
        (w48, "launch:parcelbot"): (3, T0, T0 + dt.timedelta(minutes=4)),
        (w48, "comparison:a-vs-b"): (1, T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=2)),
        (w49, "launch:parcelbot"): (1, T0 + dt.timedelta(minutes=3), T0 + dt.timedelta(minutes=3)),
    }


def test_an_edition_not_sent_yet_or_of_another_list_counts_nothing(
    sessions: sessionmaker[Session],
) -> None:
    add_edition(sessions, "2026-W50", started=False)  # seen only in previews and tests
    add_edition(sessions, "2026-W48", started=True, list_id="other")
    with sessions.begin() as session:
        assert count_click(session, "weekly", "2026-W50", "launch:x", T0) is False
        assert count_click(session, "weekly", "2026-W48", "launch:x", T0) is False
        assert count_click(session, "weekly", "2026-W51", "launch:x", T0) is False
    assert counts(sessions) == {}
