"""Fetching a feed from real loopback servers: one deadline for the whole
fetch whatever the server does, over HTTP and HTTPS; only the addresses a
feed may use, checked on every redirect hop; credentials sent to their own
host and never shown."""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.feedserver import FeedServer, Route, allowing, serve_feeds
from tests.support.intakehelpers import localhost_certificate
from worker.config import Settings
from worker.errors import FeedError
from worker.ingest.feeds import FeedSpec
from worker.ingest.fetch import ALLOW_PRIVATE_HINT, fetch
from worker.ingest.runner import ingest_feeds
from worker.store.models import Feed, FetchLog, Tool

TIMEOUT = 1.0
# How long past FEED_TIMEOUT a fetch may take to give up (the watchdog
# waking, the connection closing) on a busy machine. A fetch that does not
# keep the deadline takes 15 s and more against the trickles below.
MARGIN = 1.0
RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Launches</title>
<item><title>Inner Tool</title><link>https://inner-tool.example/</link>
<guid>inner-tool</guid><pubDate>Mon, 23 Nov 2026 10:00:00 +0000</pubDate></item>
</channel></rss>"""
# About 90 bytes: 18 s at a byte every 0.2 s, each byte well within any
# per-read timeout.
SLOW_BODY = b'<?xml version="1.0"?><rss version="2.0"><channel>' + b" " * 30 + b"</channel></rss>"
LOOPBACK = f"resolves to 127.0.0.1, a loopback address; {ALLOW_PRIVATE_HINT}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FeedServer]:
    with serve_feeds(tmp_path) as running:
        yield running


@pytest.fixture
def internal(tmp_path: Path) -> Iterator[FeedServer]:
    """A second server on loopback: what an attacker's redirect aims at."""
    (tmp_path / "internal").mkdir()
    with serve_feeds(tmp_path / "internal") as running:
        running.routes["/internal.xml"] = Route(body=RSS)
        yield running


@pytest.fixture
def quick(settings: Settings, server: FeedServer) -> Settings:
    """The test settings with a short FEED_TIMEOUT, allowing ``server`` only."""
    return allowing(dataclasses.replace(settings, feed_timeout=TIMEOUT), server)


def failed_fetch(url: str, settings: Settings) -> tuple[str, float]:
    """The error of fetching ``url``, and how long the fetch took."""
    started = time.monotonic()
    with pytest.raises(FeedError) as caught:
        fetch(url, None, None, settings)
    return str(caught.value), time.monotonic() - started


# One deadline for the whole fetch ------------------------------------------


@pytest.mark.parametrize(
    ("framing", "head"),
    [("length", False), ("close", False), ("chunked", False), ("length", True)],
    ids=["content-length", "no-length", "chunked", "headers-trickled"],
)
def test_a_trickling_server_cannot_outlast_the_timeout(
    server: FeedServer, quick: Settings, framing: str, head: bool
) -> None:
    server.routes["/trickle.xml"] = Route(
        body=SLOW_BODY, trickle=0.2, framing=framing, trickle_head=head
    )
    url = server.url("/trickle.xml")
    message, took = failed_fetch(url, quick)
    assert message == f"{url}: timed out after 1 s"
    assert took < TIMEOUT + MARGIN


def test_the_deadline_covers_every_redirect_hop(server: FeedServer, quick: Settings) -> None:
    # Each hop answers within a per-request timeout; together they do not.
    for hop in range(3):
        server.routes[f"/hop{hop}"] = Route(status=302, location=f"/hop{hop + 1}", stall=0.45)
    server.routes["/hop3"] = Route(body=RSS)
    message, took = failed_fetch(server.url("/hop0"), quick)
    assert message == f"{server.url('/hop0')}: timed out after 1 s"
    assert took < TIMEOUT + MARGIN


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedServer]:
    """A feed server on https://localhost, with a certificate for that name
    only, which the worker trusts as it would a private CA's."""
    cert, key = localhost_certificate(tmp_path, addresses=())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with serve_feeds(tmp_path, tls=context) as running:
        running.routes["/feed.xml"] = Route(body=RSS)
        running.routes["/trickle.xml"] = Route(body=SLOW_BODY, trickle=0.2, framing="close")
        yield running


def test_https_keeps_the_deadline_and_checks_the_name_it_connects_to(
    tls_server: FeedServer, settings: Settings
) -> None:
    port = tls_server.base_url.rsplit(":", 1)[1]
    quick = allowing(dataclasses.replace(settings, feed_timeout=TIMEOUT), f"127.0.0.1:{port}")
    # Connected to the address checked (127.0.0.1), verified as localhost.
    assert fetch(tls_server.url("/feed.xml"), None, None, quick).body == RSS
    by_address = f"https://127.0.0.1:{port}/feed.xml"
    message, _ = failed_fetch(by_address, quick)
    assert message.startswith(f"{by_address}: unreachable: [SSL: CERTIFICATE_VERIFY_FAILED]")
    message, took = failed_fetch(tls_server.url("/trickle.xml"), quick)
    assert message == f"{tls_server.url('/trickle.xml')}: timed out after 1 s"
    assert took < TIMEOUT + MARGIN


# Only the addresses a feed may use ----------------------------------------


def test_a_feed_on_a_non_public_address_is_fetched_only_if_allowed(
    server: FeedServer, settings: Settings
) -> None:
    server.routes["/feed.xml"] = Route(body=RSS)
    url = server.url("/feed.xml")
    assert settings.feed_allow_private == ()  # the default: public addresses only
    assert failed_fetch(url, settings)[0] == f"{url}: {LOOPBACK}"
    port = server.address.rsplit(":", 1)[1]
    for entry in (server.address, "127.0.0.1", "127.0.0.0/8", f"127.0.0.0/8:{port}", "*"):
        assert fetch(url, None, None, allowing(settings, entry)).body == RSS, entry
    for entry in ("127.0.0.1:9", "localhost", f"localhost:{port}", "10.0.0.0/8", "[::1]"):
        assert failed_fetch(url, allowing(settings, entry))[0] == f"{url}: {LOOPBACK}", entry
    assert len(server.requests) == 5  # one for each allowed fetch, none for the others


def test_a_host_name_the_lookup_refuses_is_the_feeds_error(settings: Settings) -> None:
    url = "http://feeds..example/rss"  # an empty label
    message, _ = failed_fetch(url, settings)
    assert message == f"{url}: unreachable: 'feeds..example' is not a valid host name"


def test_a_host_name_entry_matches_the_name_in_the_url(
    server: FeedServer, settings: Settings
) -> None:
    server.routes["/feed.xml"] = Route(body=RSS)
    port = server.address.rsplit(":", 1)[1]
    by_name = f"http://localhost:{port}/feed.xml"
    assert fetch(by_name, None, None, allowing(settings, f"LOCALHOST:{port}")).body == RSS
    message, _ = failed_fetch(by_name, allowing(settings, f"other.example:{port}"))
    assert message.startswith(f"{by_name}: resolves to ")
    assert message.endswith(f", a loopback address; {ALLOW_PRIVATE_HINT}")


def test_a_redirect_to_an_address_not_allowed_is_refused(
    server: FeedServer, internal: FeedServer, quick: Settings
) -> None:
    target = internal.url("/internal.xml")
    server.routes["/feed.xml"] = Route(status=302, location=target)
    url = server.url("/feed.xml")
    message, _ = failed_fetch(url, quick)
    assert message == f"{url}: redirected to {target!r}, which {LOOPBACK}"
    assert internal.requests == []
    # Allowed both, the redirect is followed.
    assert fetch(url, None, None, allowing(quick, internal)).body == RSS


def test_a_refused_redirect_names_its_target_without_its_secrets(
    server: FeedServer, internal: FeedServer, quick: Settings
) -> None:
    secret = f"http://admin:hunter2-5150@{internal.address}/internal.xml?token=tok-5150&page=2"
    server.routes["/feed.xml"] = Route(status=307, location=secret)
    message, _ = failed_fetch(server.url("/feed.xml"), quick)
    shown = f"http://admin:***@{internal.address}/internal.xml?token=***&page=2"
    assert f"redirected to {shown!r}, which {LOOPBACK}" in message
    assert "hunter2" not in message and "tok-5150" not in message


def test_ingest_stores_nothing_a_redirect_to_an_internal_address_gives(
    sessions: sessionmaker[Session], server: FeedServer, internal: FeedServer, quick: Settings
) -> None:
    target = internal.url("/internal.xml")
    server.routes["/feed.xml"] = Route(status=302, location=target)
    url = server.url("/feed.xml")
    report = ingest_feeds(sessions, [FeedSpec(url)], quick)
    [result] = report.feeds
    assert (result.status, result.new) == ("error", 0)
    assert result.error == f"{url}: redirected to {target!r}, which {LOOPBACK}"
    assert internal.requests == []
    with sessions() as session:
        assert session.scalars(select(Tool)).all() == []
        feed = session.scalars(select(Feed)).one()
        assert feed.last_error == f"redirected to {target!r}, which {LOOPBACK}"


# Credentials in a feed URL -------------------------------------------------


def test_credentials_go_to_their_own_host_only(
    server: FeedServer, internal: FeedServer, quick: Settings
) -> None:
    both = allowing(quick, internal)
    server.routes["/feed.xml"] = Route(status=302, location="/moved.xml")
    server.routes["/moved.xml"] = Route(status=302, location=internal.url("/internal.xml"))
    url = f"http://reader:pa%3Ass@{server.address}/feed.xml"
    assert fetch(url, None, None, both).body == RSS
    expected = "Basic " + base64.b64encode(b"reader:pa:ss").decode()
    assert server.headers_of("/feed.xml")[-1]["authorization"] == expected
    assert server.headers_of("/moved.xml")[-1]["authorization"] == expected  # same host
    assert "authorization" not in internal.headers_of("/internal.xml")[-1]


def test_a_feed_urls_secrets_never_show(
    sessions: sessionmaker[Session],
    server: FeedServer,
    quick: Settings,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An entry with a bad link is skipped with a warning naming the feed.
    skipped = b"<item><title>Bad</title><link>http://x:no/</link></item></channel>"
    server.routes["/feed.xml?token=abc-5150&page=2"] = Route(
        body=RSS.replace(b"</channel>", skipped)
    )
    good = f"http://user:pw-5150@{server.address}/feed.xml?token=abc-5150&page=2"
    gone = f"http://user:pw-5150@{server.address}/gone.xml?api_key=abc-5150&page=2"
    caplog.set_level(logging.DEBUG)

    report = ingest_feeds(sessions, [FeedSpec(good), FeedSpec(gone)], quick)

    assert [(f.status, f.new, f.skipped) for f in report.feeds] == [("ok", 1, 1), ("error", 0, 0)]
    error = report.feeds[1].error or ""
    assert error == (
        f"http://user:***@{server.address}/gone.xml?api_key=***&page=2: HTTP 404 Not Found"
    )
    logged = " ".join(repr(vars(record)) for record in caplog.records)
    assert "feed warning" in logged and "feed failed" in logged
    with sessions() as session:
        recorded = [
            *session.scalars(select(Feed.last_error)),
            *session.scalars(select(FetchLog.error)),
        ]
    env = {**os.environ, "DATABASE_URL": database_url, "COLUMNS": "250"}
    status = digest(env, "status")
    assert status.returncode == 0, status.stderr
    assert f"http://user:***@{server.address}/feed.xml?token=***&page=2" in status.stdout
    for text in (error, *report.warnings, logged, repr(recorded), status.stdout, status.stderr):
        assert "pw-5150" not in text and "abc-5150" not in text
