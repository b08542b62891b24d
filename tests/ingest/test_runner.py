"""Ingest over real HTTP on loopback: conditional GET, redirects, errors,
time, size and entry limits, dedupe, and sanitising of hostile feeds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import resource

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.bigfeeds import item, rss
from tests.support.feedserver import FeedServer, Route, allowing
from tests.support.statements import inserts_into_tool_replacing
from worker.config import Settings
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import ingest_feeds
from worker.store.models import Feed, Tool


@pytest.fixture
def fast(settings: Settings, server: FeedServer) -> Settings:
    quick = dataclasses.replace(settings, feed_timeout=1.0, feed_max_bytes=1024 * 1024)
    return allowing(quick, server)


def tools(sessions: sessionmaker[Session]) -> dict[str, Tool]:
    with sessions() as session:
        return {t.name: t for t in session.scalars(select(Tool))}


def feed_row(sessions: sessionmaker[Session], url: str) -> Feed:
    with sessions() as session:
        return session.scalars(select(Feed).where(Feed.url == url)).one()


def test_rss_and_atom_launches_are_stored(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    report = ingest_feeds(
        sessions,
        [
            FeedSpec(server.url("/launches.rss.xml"), category="Developer Tools"),
            FeedSpec(server.url("/launches.atom.xml")),
        ],
        fast,
    )
    assert [(f.status, f.new) for f in report.feeds] == [("ok", 5), ("ok", 5)]
    stored = tools(sessions)
    sage = stored["Stacktrace Sage"]
    assert sage.vendor == "Sage Systems (fictional)" and sage.entry_price == "Freemium"
    assert sage.category == "Developer Tools"
    assert sage.launched_on == dt.date(2026, 11, 23)
    assert sage.url == "https://stacktrace-sage.example/?utm_source=launch-radar"
    assert sage.canonical_url == "https://stacktrace-sage.example/"
    assert sage.guid == "launch-radar:stacktrace-sage"
    assert sage.tagline is not None and sage.tagline.startswith("Explains a production")
    assert sage.description is not None and "<em>" in sage.description
    pilot = stored["Palette Pilot"]
    assert (pilot.category, pilot.entry_price) == ("Design", "Free")  # from the Atom entry
    assert stored["Slidesmith"].vendor == "Smithy Works (fictional)"  # the author stands in
    assert feed_row(sessions, server.url("/launches.rss.xml")).title.startswith("Launch Radar")


def test_a_second_fetch_is_conditional_and_stores_nothing_new(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    spec = FeedSpec(server.url("/launches.rss.xml"))
    ingest_feeds(sessions, [spec], fast)
    second = ingest_feeds(sessions, [spec], fast)
    assert second.feeds[0].status == "not-modified"
    headers = server.headers_of("/launches.rss.xml")[-1]
    assert headers["if-none-match"].startswith('"')
    assert "if-modified-since" in headers
    assert headers["user-agent"].startswith("verdict-digest/")
    assert len(tools(sessions)) == 5


def test_a_changed_feed_adds_only_new_entries(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    spec = FeedSpec(server.url("/launches.rss.xml"))
    ingest_feeds(sessions, [spec], fast)
    rss = (server.root / "launches.rss.xml").read_text()
    extra = (
        rss.replace("Stacktrace Sage", "Stacktrace Sage Two")
        .replace("launch-radar:stacktrace-sage", "launch-radar:stacktrace-sage-two")
        .replace("https://stacktrace-sage.example/", "https://sage-two.example/")
    )
    (server.root / "launches.rss.xml").write_text(extra)
    report = ingest_feeds(sessions, [spec], fast)
    assert (report.feeds[0].new, report.feeds[0].duplicates) == (1, 4)
    assert "Stacktrace Sage Two" in tools(sessions)


def test_dedupe_by_canonical_url_across_feeds(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    ingest_feeds(sessions, [FeedSpec(server.url("/launches.rss.xml"))], fast)
    copy = (server.root / "launches.rss.xml").read_text().replace("launch-radar:", "mirror:")
    copy = copy.replace(
        "https://schemafold.example/", "HTTPS://Schemafold.example:443/?utm_campaign=x#top"
    )
    server.routes["/mirror.xml"] = Route(body=copy.encode())
    report = ingest_feeds(sessions, [FeedSpec(server.url("/mirror.xml"))], fast)
    assert (report.feeds[0].new, report.feeds[0].duplicates) == (0, 5)
    assert len(tools(sessions)) == 5


def test_a_bad_feed_is_recorded_and_the_others_go_on(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    server.routes["/slow.xml"] = Route(file="launches.atom.xml", stall=2.5)
    server.routes["/missing.xml"] = Route(status=404, body=b"no")
    server.routes["/broken.xml"] = Route(status=500, body=b"oops")
    specs = [
        FeedSpec(server.url("/malformed.xml")),
        FeedSpec(server.url("/slow.xml")),
        FeedSpec(server.url("/launches.rss.xml")),
        FeedSpec(server.url("/missing.xml")),
        FeedSpec(server.url("/broken.xml")),
        FeedSpec("http://127.0.0.1:9/closed.xml"),
    ]
    report = ingest_feeds(sessions, specs, allowing(fast, "127.0.0.1:9"))
    by_url = {f.url: f for f in report.feeds}
    assert by_url[server.url("/launches.rss.xml")].new == 5
    assert report.errors == 5
    malformed = by_url[server.url("/malformed.xml")]
    assert malformed.status == "error" and "not a feed" in (malformed.error or "")
    assert (malformed.error or "").startswith(server.url("/malformed.xml"))
    assert "timed out" in (by_url[server.url("/slow.xml")].error or "")
    assert "HTTP 404" in (by_url[server.url("/missing.xml")].error or "")
    assert "HTTP 500" in (by_url[server.url("/broken.xml")].error or "")
    assert "unreachable" in (by_url["http://127.0.0.1:9/closed.xml"].error or "")
    row = feed_row(sessions, server.url("/missing.xml"))
    assert (row.last_status, row.error_count) == (404, 1)
    assert row.last_error == "HTTP 404 Not Found"
    assert len(tools(sessions)) == 5


def test_gone_feeds_are_deactivated_and_moved_feeds_follow(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    server.routes["/old.xml"] = Route(status=410)
    server.routes["/moved.xml"] = Route(status=301, location="/launches.atom.xml")
    server.routes["/temp.xml"] = Route(status=302, location="/launches.rss.xml")
    specs = [
        FeedSpec(server.url("/old.xml")),
        FeedSpec(server.url("/moved.xml")),
        FeedSpec(server.url("/temp.xml")),
    ]
    report = ingest_feeds(sessions, specs, fast)
    assert [f.status for f in report.feeds] == ["gone", "ok", "ok"]
    assert feed_row(sessions, server.url("/old.xml")).active is False
    assert feed_row(sessions, server.url("/launches.atom.xml")).title  # the feed moved
    assert feed_row(sessions, server.url("/temp.xml"))  # a temporary redirect keeps the URL
    again = ingest_feeds(sessions, [FeedSpec(server.url("/old.xml"))], fast)
    assert again.feeds[0].status == "inactive"
    assert len(server.headers_of("/old.xml")) == 1


def test_a_16_mb_feed_is_refused_without_reading_it_all(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    server.routes["/huge.xml"] = Route(stream_bytes=16 * 1024 * 1024)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = ingest_feeds(
        sessions,
        [FeedSpec(server.url("/huge.xml")), FeedSpec(server.url("/launches.rss.xml"))],
        fast,
    )
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    huge, good = report.feeds
    assert huge.status == "error"
    assert f"feed larger than {fast.feed_max_bytes} bytes" in (huge.error or "")
    assert good.new == 5
    assert grown_kb < 12 * 1024  # far less than the 16 MB offered


def test_hostile_entries_are_stored_sanitised(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    hostile = (server.root / "hostile.xml").read_text().replace("LONGTITLE", "L" * 10_000)
    server.routes["/hostile.xml"] = Route(body=hostile.encode())
    report = ingest_feeds(sessions, [FeedSpec(server.url("/hostile.xml"))], fast)
    assert report.feeds[0].new == 2
    stored = tools(sessions)
    evil = next(t for name, t in stored.items() if name.startswith("Evil"))
    # Markup goes, scripts with their content; the CRLF and the bell become spaces.
    assert evil.name == "Evil Bcc: victim@example.com Tool"
    assert "\r" not in evil.name and "\n" not in evil.name and "\x07" not in evil.name
    assert evil.vendor == "Vendor X-Injected: yes"
    assert evil.entry_price == "Free"
    assert evil.url is None  # javascript: is not a link
    assert evil.description == (
        '<p>Nice tool <a rel="noopener noreferrer">click</a> '
        '<a href="https://ok.example/" rel="noopener noreferrer">ok</a> </p>'
    )
    feed = feed_row(sessions, server.url("/hostile.xml"))
    assert feed.title == "Hostile feed"
    long = next(t for name, t in stored.items() if name.startswith("LLL"))
    assert len(long.name) == 300 and long.name.endswith("…")


def test_entries_that_do_not_fit_are_skipped_and_the_rest_is_stored(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    long_link = "https://long-link.example/" + "a" * 3000
    bad = (
        (server.root / "bad-entries.xml")
        .read_text()
        .replace("LONGLINK", long_link)
        .replace("LONGTITLE", "Lönger title " * 77)  # 1,001 characters, not all ASCII
    )
    server.routes["/bad-entries.xml"] = Route(body=bad.encode())
    # An ETag longer than its column (1,024 characters).
    server.routes["/long-etag.xml"] = Route(file="launches.atom.xml", etag=f'"{"e" * 1998}"')
    bad_url, etag_url = server.url("/bad-entries.xml"), server.url("/long-etag.xml")
    specs = [FeedSpec(bad_url), FeedSpec(etag_url), FeedSpec(server.url("/launches.rss.xml"))]

    report = ingest_feeds(sessions, specs, fast)

    assert [(f.status, f.new, f.skipped) for f in report.feeds] == [
        ("ok", 2, 2),
        ("ok", 5, 0),
        ("ok", 5, 0),
    ]
    warnings = report.feeds[0].warnings
    assert report.warnings == warnings and len(warnings) == 2
    assert all(w.startswith(f"{bad_url}: entry ") for w in warnings)
    port, long = warnings
    assert "'http://x:abc/'" in port and "not a valid URL" in port
    assert "https://long-link.example/aaa" in long and "longer than 2048 characters" in long
    assert len(long) < 300  # the entry is named, not quoted whole
    stored = tools(sessions)
    assert len(stored) == 12
    assert {"Goodgrip", "Slidesmith", "Stacktrace Sage"} <= stored.keys()
    assert not {"Bad Port", "Long Link"} & stored.keys()
    titled = next(t for t in stored.values() if t.guid == "bad-entries:long-title")
    assert len(titled.name) <= 300 and titled.name.endswith("…")
    assert titled.name.startswith("Lönger title Lönger title")
    # The over-long ETag is not kept, so the next fetch does not send it.
    assert feed_row(sessions, etag_url).etag is None
    ingest_feeds(sessions, [FeedSpec(etag_url)], fast)
    assert "if-none-match" not in server.headers_of("/long-etag.xml")[-1]


def test_an_unexpected_error_fails_only_its_feed(
    sessions: sessionmaker[Session], engine: Engine, server: FeedServer, fast: Settings
) -> None:
    # Two entries of the RSS feed get one slug: the store refuses the
    # second INSERT, which on PostgreSQL aborts the transaction.
    with inserts_into_tool_replacing(engine, "testwhisper", "schemafold"):
        _ingest_with_one_feed_failing(sessions, server, fast)


def _ingest_with_one_feed_failing(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    rss_url = server.url("/launches.rss.xml")
    specs = [
        FeedSpec(rss_url),
        FeedSpec("https://feeds.example/" + "x" * 3000),
        FeedSpec(server.url("/launches.atom.xml")),
    ]
    report = ingest_feeds(sessions, specs, fast)
    rss, too_long, atom = report.feeds
    assert rss.status == "error" and (rss.error or "").startswith(f"{rss_url}: unexpected error")
    assert too_long.status == "error" and "longer than 2048 characters" in (too_long.error or "")
    assert (atom.status, atom.new) == ("ok", 5)
    assert report.errors == 2
    row = feed_row(sessions, rss_url)
    assert (row.error_count, row.etag) == (1, None)  # its fetch state went with its entries
    assert (row.last_error or "").startswith("unexpected error: IntegrityError")
    assert len(tools(sessions)) == 5


def test_the_namespace_uri_decides_not_the_prefix(
    sessions: sessionmaker[Session], server: FeedServer, fast: Settings
) -> None:
    # The same feed, not well-formed, goes through feedparser's other parser,
    # which keys the elements differently.
    loose = (
        (server.root / "prefixed.xml")
        .read_text()
        .replace("prefixed:", "loose:")
        .replace("-tool.example/", "-tool.example/loose")
        .replace("<title>Prefixed</title>", "<title>Prefixed &bogus;</title>")
    )
    server.routes["/loose.xml"] = Route(body=loose.encode())
    specs = [FeedSpec(server.url("/prefixed.xml")), FeedSpec(server.url("/loose.xml"))]
    report = ingest_feeds(sessions, specs, fast)
    assert [(f.status, f.new) for f in report.feeds] == [("ok", 2), ("ok", 2)]
    assert report.feeds[1].warnings  # the loose feed parsed with problems
    expected = {
        "Vee Tool": ("Vee Labs (fictional)", "Paid"),
        "Upper Tool": ("Upper Works (fictional)", "Freemium"),
    }
    with sessions() as session:
        stored = session.scalars(select(Tool)).all()
        assert len(stored) == 4
        for tool in stored:
            assert (tool.vendor, tool.entry_price) == expected[tool.name], tool.guid


def test_a_fetch_stores_only_the_newest_feed_max_entries(
    sessions: sessionmaker[Session],
    server: FeedServer,
    fast: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    days = [3, 9, 1, 7, 9, 2, 5]  # of November 2026, in the feed's order
    server.routes["/many.xml"] = Route(
        body=rss(
            [
                item(f"Day {day} Tool {n}", f"many:{n}", f"https://many.example/{n}", at(day))
                for n, day in enumerate(days)
            ]
        )
    )
    url = server.url("/many.xml")
    capped = dataclasses.replace(fast, feed_max_entries=3)
    with caplog.at_level(logging.INFO, logger="worker.ingest"):
        result = ingest_feeds(sessions, [FeedSpec(url)], capped).feeds[0]
    assert (result.status, result.new, result.left_out) == ("ok", 3, 4)
    assert set(tools(sessions)) == {"Day 9 Tool 1", "Day 7 Tool 3", "Day 9 Tool 4"}
    warning = f"{url}: 4 of 7 entries left out: FEED_MAX_ENTRIES keeps the 3 newest"
    assert result.warnings == [warning]
    logged = [r for r in caplog.records if r.getMessage() == "feed warning"]
    assert [(r.__dict__["feed"], r.__dict__["detail"]) for r in logged] == [(url, warning)]


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 9, 0, tzinfo=dt.UTC)
