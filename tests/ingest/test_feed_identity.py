"""An entry is its feed's (finding 8 of issue 12): a feed publishing
another feed's guid gets a tool of its own and never takes the other's
over; a canonical URL already stored by one feed is a duplicate in any
later feed, which cannot rewrite the stored tool."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.bigfeeds import item, rss
from tests.support.feedserver import FeedServer, Route, allowing
from worker.config import Settings
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import ingest_feeds
from worker.store.models import Feed, Tool

GOOD = rss(
    [
        item("Good Tool 1", "good-1", "https://good.example/1"),
        item("Good Tool 2", "good-2", "https://good.example/2"),
    ],
    title="Good feed",
)
# The hostile feed publishes the good feed's guid with its own link.
SHADOW = rss([item("Good Tool 1", "good-1", "https://attacker.example/x")], title="Shadow")


@pytest.fixture(autouse=True)
def good_and_shadow(server: FeedServer) -> None:
    server.routes["/good.xml"] = Route(body=GOOD)
    server.routes["/shadow.xml"] = Route(body=SHADOW)


@pytest.fixture
def fast(settings: Settings, server: FeedServer) -> Settings:
    return allowing(dataclasses.replace(settings, feed_timeout=5.0), server)


def tools_of(sessions: sessionmaker[Session], url: str) -> dict[str, tuple[str, str | None]]:
    """guid → (name, url) of the tools of the feed at ``url``."""
    with sessions() as session:
        rows = session.execute(
            select(Tool.guid, Tool.name, Tool.url).join(Feed).where(Feed.url == url)
        ).all()
    return {guid: (name, link) for guid, name, link in rows}


@pytest.mark.parametrize("shadow_first", [True, False], ids=["shadow-first", "good-first"])
def test_a_feed_cannot_take_over_another_feeds_entry(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings, shadow_first: bool
) -> None:
    good, shadow = FeedSpec(server.url("/good.xml")), FeedSpec(server.url("/shadow.xml"))
    for spec in (shadow, good) if shadow_first else (good, shadow):
        report = ingest_feeds(sessions, [spec], fast)
        assert report.feeds[0].status == "ok"
    assert tools_of(sessions, good.url) == {
        "good-1": ("Good Tool 1", "https://good.example/1"),
        "good-2": ("Good Tool 2", "https://good.example/2"),
    }
    assert tools_of(sessions, shadow.url) == {
        "good-1": ("Good Tool 1", "https://attacker.example/x")
    }


@pytest.mark.parametrize("copy_first", [True, False], ids=["copy-first", "good-first"])
def test_a_later_feeds_copy_of_a_link_is_a_duplicate_that_changes_nothing(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings, copy_first: bool
) -> None:
    server.routes["/copy.xml"] = Route(
        body=rss([item("Renamed by the copy", "copy-1", "https://GOOD.example/1?utm_source=x")])
    )
    good, copy = FeedSpec(server.url("/good.xml")), FeedSpec(server.url("/copy.xml"))
    first, later = (copy, good) if copy_first else (good, copy)
    ingest_feeds(sessions, [first], fast)
    report = ingest_feeds(sessions, [later], fast)
    with sessions() as session:
        stored = session.scalars(
            select(Tool).where(Tool.canonical_url == "https://good.example/1")
        ).one()
        assert stored.feed is not None and stored.feed.url == first.url
        expected = "Renamed by the copy" if copy_first else "Good Tool 1"
        assert stored.name == expected
    later_result = report.feeds[0]
    assert later_result.duplicates == 1
    assert later_result.new == (1 if copy_first else 0)
