"""Writing a feed's launches (finding 4 of issue 12): slugs in linear time,
short transactions that leave the store's write lock to others between
chunks, and a failure halfway that loses nothing the next fetch cannot
bring."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.bigfeeds import alike_feed, item, rss
from tests.support.feedserver import FeedServer, Route, allowing
from tests.support.statements import inserts_into_tool_replacing
from tests.support.writeprobe import WriteProbe
from worker.config import Settings
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import ingest_feeds
from worker.ingest.writer import CHUNK
from worker.store.models import Feed, Tool

ALIKE = 600  # the quadratic slugs took about 13 s for this many


@pytest.fixture(autouse=True)
def alike(server: FeedServer) -> None:
    server.routes["/alike.xml"] = Route(body=alike_feed(ALIKE))


@pytest.fixture
def roomy(settings: Settings, server: FeedServer) -> Settings:
    """Settings that store every entry of the test feeds."""
    return allowing(
        dataclasses.replace(settings, feed_timeout=30.0, feed_max_entries=10_000), server
    )


def slugs(sessions: sessionmaker[Session]) -> dict[str | None, str]:
    """guid → slug of every stored tool."""
    with sessions() as session:
        return {guid: slug for guid, slug in session.execute(select(Tool.guid, Tool.slug))}


def test_alike_titles_cost_a_few_queries_per_chunk(
    sessions: sessionmaker[Session], engine: Engine, server: FeedServer, roomy: Settings
) -> None:
    statements: list[str] = []

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        report = ingest_feeds(sessions, [FeedSpec(server.url("/alike.xml"))], roomy)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert report.feeds[0].new == ALIKE
    given = slugs(sessions)
    assert given["alike:0"] == "tool" and given["alike:1"] == "tool-2"
    assert set(given.values()) == {"tool", *(f"tool-{n}" for n in range(2, ALIKE + 1))}
    chunks = -(-ALIKE // CHUNK)
    # Per chunk: guids, links, slugs and the INSERT; then the feed's row.
    assert len(statements) <= 4 * chunks + 10, statements[:20]


def test_slugs_skip_the_taken_ones_and_numbered_titles(
    sessions: sessionmaker[Session], server: FeedServer, roomy: Settings
) -> None:
    with sessions.begin() as session:
        session.add(Tool(slug="tool-3", name="Imported"))
    titles = ["Tool", "Tool", "Tool 2", "Tool", "Tool", "Other"]
    server.routes["/mixed.xml"] = Route(
        body=rss([item(title, f"m{n}", f"https://m.example/{n}") for n, title in enumerate(titles)])
    )
    ingest_feeds(sessions, [FeedSpec(server.url("/mixed.xml"))], roomy)
    assert slugs(sessions) == {
        None: "tool-3",
        "m0": "tool",
        "m1": "tool-2",
        "m2": "tool-2-2",  # "Tool 2" is not the second "Tool"
        "m3": "tool-4",
        "m4": "tool-5",
        "m5": "other",
    }


def test_an_unsubscribe_is_not_locked_out_while_a_feed_is_written(
    sessions: sessionmaker[Session], database_url: str, server: FeedServer, roomy: Settings
) -> None:
    """A writer beside the ingest, as the web app's unsubscribe is, never
    waits out its busy timeout: one transaction per feed held SQLite's
    write lock for the whole feed."""
    with WriteProbe(database_url) as probe:
        report = ingest_feeds(sessions, [FeedSpec(server.url("/alike.xml"))], roomy)
        writes_during = probe.writes
    assert report.feeds[0].new == ALIKE
    assert probe.failures == []
    assert writes_during >= 1


def test_a_failure_halfway_keeps_the_chunks_written_and_the_next_fetch_brings_the_rest(
    sessions: sessionmaker[Session], engine: Engine, server: FeedServer, roomy: Settings
) -> None:
    url = server.url("/alike.xml")
    # The second chunk's first slug clashes with the first chunk's.
    with inserts_into_tool_replacing(engine, f"tool-{CHUNK + 1}", "tool"):
        failed = ingest_feeds(sessions, [FeedSpec(url)], roomy).feeds[0]
    assert failed.status == "error" and "IntegrityError" in (failed.error or "")
    assert len(slugs(sessions)) == CHUNK
    with sessions() as session:
        feed = session.scalars(select(Feed).where(Feed.url == url)).one()
    # No validators of a fetch whose entries were not all written: the next
    # fetch cannot be answered 304.
    assert (feed.etag, feed.last_modified, feed.error_count) == (None, None, 1)

    again = ingest_feeds(sessions, [FeedSpec(url)], roomy).feeds[0]
    assert "if-none-match" not in server.headers_of("/alike.xml")[-1]
    assert (again.status, again.new, again.duplicates) == ("ok", ALIKE - CHUNK, CHUNK)
    assert len(slugs(sessions)) == ALIKE
    with sessions() as session:
        feed = session.scalars(select(Feed).where(Feed.url == url)).one()
        assert feed.etag is not None and feed.error_count == 0
