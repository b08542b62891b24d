"""Feeds are fetched at once (FEED_CONCURRENCY): a feed the server holds
does not hold up the others, whose launches are stored meanwhile; the
report keeps the feeds' order, and a clock told to stop starts no more."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.feedserver import FeedServer, Route, allowing
from worker.config import Settings
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import IngestReport, ingest_feeds
from worker.store.models import Feed, Tool


@pytest.fixture
def patient(settings: Settings, server: FeedServer) -> Settings:
    """Settings whose fetches outlast any wait of these tests."""
    return allowing(dataclasses.replace(settings, feed_timeout=60.0, feed_concurrency=4), server)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stored_tools(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Tool)) or 0


def recorded(sessions: sessionmaker[Session], url: str) -> int | None:
    """The HTTP status recorded on the feed at ``url`` (None: not yet)."""
    with sessions() as session:
        return session.scalar(select(Feed.last_status).where(Feed.url == url))


class Ingest:
    """An ingest in a thread of its own, its report kept."""

    def __init__(self, run: Callable[[], IngestReport]) -> None:
        self.report: IngestReport | None = None
        self.thread = threading.Thread(target=self._run, args=(run,))
        self.thread.start()

    def _run(self, run: Callable[[], IngestReport]) -> None:
        self.report = run()

    def finished(self) -> IngestReport:
        self.thread.join(timeout=60)
        assert self.report is not None, "the ingest did not finish"
        return self.report


def test_a_held_feed_does_not_hold_up_the_others(
    sessions: sessionmaker[Session], server: FeedServer, patient: Settings
) -> None:
    release = threading.Event()
    server.routes["/held.xml"] = Route(file="launches.atom.xml", hold=release)
    server.routes["/missing.xml"] = Route(status=404, body=b"no")
    specs = [
        FeedSpec(server.url("/held.xml")),
        FeedSpec(server.url("/missing.xml")),
        FeedSpec(server.url("/launches.rss.xml")),
        FeedSpec("http://127.0.0.1:9/closed.xml"),
    ]
    try:
        ingest = Ingest(lambda: ingest_feeds(sessions, specs, patient))
        # The RSS feed's five launches are stored, and the failures recorded,
        # while the server still holds the first feed.
        wait_until(lambda: stored_tools(sessions) == 5, "the other feeds' launches")
        wait_until(lambda: recorded(sessions, specs[1].url) == 404, "the 404 to be recorded")
        assert ingest.thread.is_alive() and recorded(sessions, specs[0].url) is None
    finally:
        release.set()
    report = ingest.finished()
    assert [(f.url, f.status, f.new) for f in report.feeds] == [
        (specs[0].url, "ok", 5),
        (specs[1].url, "error", 0),
        (specs[2].url, "ok", 5),
        (specs[3].url, "error", 0),
    ]
    assert stored_tools(sessions) == 10


def test_once_told_to_stop_no_further_feed_is_started(
    sessions: sessionmaker[Session], server: FeedServer, patient: Settings
) -> None:
    release = threading.Event()
    stop = threading.Event()
    for name in ("one", "two", "three"):
        server.routes[f"/{name}.xml"] = Route(file="launches.rss.xml", hold=release)
    specs = [FeedSpec(server.url(f"/{name}.xml")) for name in ("one", "two", "three")]
    try:
        two_at_once = dataclasses.replace(patient, feed_concurrency=2)
        ingest = Ingest(lambda: ingest_feeds(sessions, specs, two_at_once, stop=stop))
        wait_until(lambda: len(server.requests) == 2, "two fetches under way")
        stop.set()
    finally:
        release.set()
    report = ingest.finished()
    assert [f.url for f in report.feeds] == [specs[0].url, specs[1].url]
    assert [path for path, _ in server.requests] == ["/one.xml", "/two.xml"]
