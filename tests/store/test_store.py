"""The schema: migrations match the models, constraints hold on both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from worker.store import current_revision, make_engine
from worker.store.models import (
    Base,
    Delivery,
    Edition,
    EditionSegment,
    Review,
    Subscriber,
    Tool,
)


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert current_revision(engine) is not None


def test_engine_url_round_trips(database_url: str) -> None:
    other = make_engine(database_url)
    assert current_revision(other) is not None
    other.dispose()


def test_one_edition_per_list_and_week(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(Edition(list_id="weekly", week="2026-W48", status="ready"))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(Edition(list_id="weekly", week="2026-W48", status="ready"))


def test_review_seat_and_verdict_are_checked(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(Tool(slug="t", name="T"))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        tool = session.scalars(select(Tool)).one()
        session.add(Review(tool=tool, seat="intern", position=0, verdict="ship", quote="q"))


def test_a_segment_with_deliveries_cannot_be_deleted(sessions: sessionmaker[Session]) -> None:
    """A rebuild racing the start of a send fails instead of taking the new
    deliveries with the old segments; deleting the edition takes both."""
    with sessions.begin() as session:
        edition = Edition(list_id="weekly", week="2026-W48", status="sending")
        segment = EditionSegment(segment="", subject="s", html="h", text="t")
        edition.segments.append(segment)
        subscriber = Subscriber(email="a@example.com", status="confirmed")
        session.add_all([edition, subscriber])
        session.flush()
        session.add(
            Delivery(edition_id=edition.id, subscriber_id=subscriber.id, segment_id=segment.id)
        )
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.delete(session.scalars(select(EditionSegment)).one())
    with sessions.begin() as session:
        session.delete(session.scalars(select(Edition)).one())
    with sessions() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_timestamps_read_back_aware_in_utc(sessions: sessionmaker[Session]) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    with sessions.begin() as session:
        session.add(
            Subscriber(
                email="a@example.com",
                confirmed_at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=berlin),
            )
        )
    with sessions() as session:
        subscriber = session.scalars(select(Subscriber)).one()
    assert subscriber.confirmed_at == dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    assert subscriber.confirmed_at.tzinfo is not None


def test_every_migration_downgrades_and_upgrades_again(engine: Engine) -> None:
    from alembic import command

    from worker.store import alembic_config, upgrade

    command.downgrade(alembic_config(engine), "base")
    assert current_revision(engine) is None
    upgrade(engine)
    test_migrations_match_models(engine)


def test_migrations_keep_what_references_a_rebuilt_table(engine: Engine) -> None:
    """SQLite rebuilds tables to change them; the votes and deliveries that
    reference a rebuilt subscriber table must survive it."""
    from alembic import command

    from worker.store import alembic_config, upgrade

    command.downgrade(alembic_config(engine), "0004")
    now = "2026-11-24 09:00:00+00:00"
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO subscriber (email, status, categories, created_at)"
            " VALUES ('a@example.com', 'confirmed', '', :now),"
            " ('b@example.com', 'confirmed', '', :now)",
            "INSERT INTO tool (id, slug, name, created_at) VALUES (1, 't', 'T', :now)",
            "INSERT INTO vote (tool_id, subscriber_id, verdict, created_at)"
            " VALUES (1, 1, 'ship', :now)",
            "INSERT INTO edition (id, list_id, week, status, created_at)"
            " VALUES (1, 'weekly', '2026-W48', 'sending', :now)",
            "INSERT INTO edition_segment (id, edition_id, segment, subject, html, text)"
            " VALUES (1, 1, '', 's', 'h', 't')",
            "INSERT INTO delivery (edition_id, subscriber_id, segment_id, status, attempts)"
            " VALUES (1, 1, 1, 'sent', 1), (1, 2, 1, 'queued', 0)",
        ):
            connection.execute(text(statement), {"now": now})
    upgrade(engine)
    with engine.begin() as connection:
        assert connection.scalar(text("SELECT count(*) FROM vote")) == 1
        assert connection.scalar(text("SELECT count(*) FROM delivery")) == 2
        # The newest subscriber leaves; the next one gets a new id, not theirs.
        connection.execute(text("DELETE FROM subscriber WHERE id = 2"))
        connection.execute(
            text(
                "INSERT INTO subscriber (email, status, categories, created_at, soft_bounces)"
                " VALUES ('c@example.com', 'pending', '', :now, 0)"
            ),
            {"now": now},
        )
        assert (
            connection.scalar(text("SELECT id FROM subscriber WHERE email = 'c@example.com'")) == 3
        )
