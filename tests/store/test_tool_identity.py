"""A tool's guid is its feed's (migration 0008): two feeds may share one,
one feed may not have it twice."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from tests.store.test_store import assert_migrated_to_the_models
from worker.store import alembic_config, upgrade

NOW = "2026-11-24 09:00:00+00:00"


def insert_tool(engine: Engine, slug: str, feed_id: int | None, guid: str | None) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tool (slug, name, feed_id, guid, created_at)"
                " VALUES (:slug, 'T', :feed_id, :guid, :now)"
            ),
            {"slug": slug, "feed_id": feed_id, "guid": guid, "now": NOW},
        )


def test_a_populated_store_migrates_to_guids_per_feed(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "0007")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feed (id, url, active, error_count) VALUES"
                " (1, 'https://good.example/feed', true, 0),"
                " (2, 'https://other.example/feed', true, 0)"
            )
        )
    insert_tool(engine, "good-1", 1, "good-1")
    insert_tool(engine, "imported", None, None)
    insert_tool(engine, "imported-2", None, None)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO review (tool_id, seat, position, verdict, quote)"
                " SELECT id, 'builder', 0, 'ship', 'q' FROM tool WHERE slug = 'good-1'"
            )
        )
    with pytest.raises(IntegrityError):  # before: one guid for the whole store
        insert_tool(engine, "shadow-1", 2, "good-1")

    upgrade(engine)

    assert_migrated_to_the_models(engine)
    insert_tool(engine, "shadow-1", 2, "good-1")  # another feed's entry, its own tool
    with pytest.raises(IntegrityError):
        insert_tool(engine, "good-1-again", 1, "good-1")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT slug, feed_id, guid FROM tool ORDER BY slug"))
        assert rows.all() == [
            ("good-1", 1, "good-1"),
            ("imported", None, None),
            ("imported-2", None, None),
            ("shadow-1", 2, "good-1"),
        ]
        # The rebuilt table kept what references it.
        assert connection.scalar(text("SELECT count(*) FROM review")) == 1
