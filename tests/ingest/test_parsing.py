"""Parsing a fetched feed: a body that made feedparser itself raise is read
(a reference to no character) or fails only its own feed, with a clear
error instead of an "unexpected error"."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.feedserver import FeedServer, Route, allowing, serve_feeds
from worker.config import Settings
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import ingest_feeds
from worker.store.models import Tool


def rss(*titles: str, encoding: str = "utf-8") -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>https://t{n}.example/</link><guid>t{n}</guid></item>"
        for n, title in enumerate(titles)
    )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        f'<rss version="2.0"><channel><title>Launches</title>{items}</channel></rss>'
    ).encode(encoding)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FeedServer]:
    with serve_feeds(tmp_path) as running:
        yield running


@pytest.fixture
def quick(settings: Settings, server: FeedServer) -> Settings:
    return allowing(dataclasses.replace(settings, feed_timeout=2.0), server)


def test_a_reference_to_no_character_reads_as_a_replacement_character(
    sessions: sessionmaker[Session], server: FeedServer, quick: Settings
) -> None:
    server.routes["/lone.xml"] = Route(
        body=rss("Lone &#xD800; Tool", "Far &#x110000; Tool", "Huge &#99999999999999999999; Tool")
    )
    report = ingest_feeds(sessions, [FeedSpec(server.url("/lone.xml"))], quick)
    [result] = report.feeds
    assert (result.status, result.new, result.error) == ("ok", 3, None)
    with sessions() as session:
        names = set(session.scalars(select(Tool.name)))
    assert names == {"Lone \ufffd Tool", "Far \ufffd Tool", "Huge \ufffd Tool"}


def test_a_body_the_parser_fails_on_fails_only_its_feed(
    sessions: sessionmaker[Session], server: FeedServer, quick: Settings
) -> None:
    # In UTF-16 the reference is not repaired, and feedparser raises.
    server.routes["/utf16.xml"] = Route(
        body=rss("Lone &#xD800; Tool", encoding="utf-16"), content_type="application/rss+xml"
    )
    server.routes["/good.xml"] = Route(body=rss("Good Tool"))
    specs = [FeedSpec(server.url("/utf16.xml")), FeedSpec(server.url("/good.xml"))]
    report = ingest_feeds(sessions, specs, quick)
    bad, good = report.feeds
    assert bad.status == "error"
    assert (bad.error or "").startswith(
        f"{server.url('/utf16.xml')}: not a feed: the parser failed: UnicodeEncodeError"
    )
    assert (good.status, good.new) == ("ok", 1)
