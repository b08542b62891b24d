"""The schema: migrations match the models, constraints hold on both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from worker.store import alembic_config, current_revision, make_engine, session_factory, upgrade
from worker.store.models import (
    Base,
    Delivery,
    Edition,
    EditionSegment,
    Review,
    Subscriber,
    Tool,
)


def assert_migrated_to_the_models(engine: Engine) -> None:
    """The database is at a revision, and its schema is what the models declare."""
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert current_revision(engine) is not None


def test_migrations_match_models(engine: Engine) -> None:
    assert_migrated_to_the_models(engine)


def test_engine_url_round_trips(engine: Engine, database_url: str) -> None:
    """The URL handed to code that makes its own engine renders back the
    same from that engine, and reaches the same store (on PostgreSQL, the
    same schema)."""
    with session_factory(engine).begin() as session:
        session.add(Tool(slug="written-through-the-fixture", name="T"))
    other = make_engine(database_url)
    try:
        assert other.url.render_as_string(hide_password=False) == database_url
        with other.connect() as connection:
            assert connection.scalar(text("SELECT slug FROM tool")) == "written-through-the-fixture"
    finally:
        other.dispose()


def test_an_engine_keeps_the_password_of_its_url() -> None:
    """Quoted characters included, and hidden where an engine's URL is shown."""
    url = (
        "postgresql+psycopg://digest:p%40ss%2Fw%3Ard%25@db.example:5432/digest"
        "?options=-csearch_path%3Dverdict"
    )
    engine = make_engine(url)  # connects to nothing until asked
    try:
        assert engine.url.password == "p@ss/w:rd%"
        assert engine.url.render_as_string(hide_password=False) == url
        assert str(engine.url) == url.replace("p%40ss%2Fw%3Ard%25", "***")
    finally:
        engine.dispose()


def test_one_edition_per_list_and_week(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(Edition(list_id="weekly", week="2026-W48", status="ready"))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(Edition(list_id="weekly", week="2026-W48", status="ready"))


@pytest.mark.parametrize(
    ("column", "seat", "verdict"),
    [("seat", "intern", "ship"), ("verdict", "skeptic", "maybe")],
)
def test_review_seat_and_verdict_are_checked(
    sessions: sessionmaker[Session], column: str, seat: str, verdict: str
) -> None:
    with sessions.begin() as session:
        review = Review(seat="builder", position=0, verdict="ship", quote="q")
        session.add(Tool(slug="t", name="T", reviews=[review]))  # a good one goes in
    with pytest.raises(IntegrityError, match=f"ck_review_{column}"), sessions.begin() as session:
        tool = session.scalars(select(Tool)).one()
        session.add(Review(tool=tool, seat=seat, position=1, verdict=verdict, quote="q"))
    with sessions() as session:
        assert session.scalars(select(Review.seat)).all() == ["builder"]


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

    command.downgrade(alembic_config(engine), "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert_migrated_to_the_models(engine)


def test_migrations_keep_what_references_a_rebuilt_table(engine: Engine) -> None:
    """SQLite rebuilds tables to change them; the votes and deliveries that
    reference a rebuilt subscriber table must survive it."""

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
