"""The link check, against a real HTTP server on loopback."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.digests import seed_digest
from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.config import Settings
from worker.domain.clicks import edition_links
from worker.editor.lint.linkcheck import check_links, links_of
from worker.editor.lint.message import read_message
from worker.editor.lint.rules import Finding, Level
from worker.render.renderer import Renderer


class Server(ThreadingHTTPServer):
    """Remembers each request; holds /slow until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, str, str]] = []
        self.release = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_HEAD(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("User-Agent", "")))
        head = self.command == "HEAD"
        if self.path == "/slow":
            self.server.release.wait(30)
        routes = {
            "/ok": (200, None),
            "/missing": (404, None),
            "/broken": (500, None),
            "/moved": (301, "/ok"),
            "/loop": (302, "/loop"),
            "/no-head": (405 if head else 200, None),
            "/forbidden-head": (403 if head else 200, None),
            "/no-head-gone": (405 if head else 404, None),
        }
        status, location = routes.get(self.path, (200, None))
        body = b"a page\n"
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``server.seen``."""


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.release.set()
    running.shutdown()
    running.server_close()
    thread.join()


@pytest.fixture
def refused_url() -> str:
    """A loopback port nothing listens on: a socket's, closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_failing_links_are_errors_and_working_ones_say_nothing(
    server: Server, refused_url: str, settings: Settings
) -> None:
    base = server.base
    settings = dataclasses.replace(settings, site_url=base)
    urls = [
        f"{base}/ok",
        f"{base}/missing",
        f"{base}/moved",
        f"{base}/no-head",
        f"{base}/forbidden-head",
        f"{base}/no-head-gone",
        f"{base}/broken",
        f"{base}/loop",
        refused_url,
        f"{base}/u/WzEsIndlZWtseSJd.token",
        f"{base}/preferences/WzEsIndlZWtseSJd.token",
        f"{base}/vote/WzEsIndlZWtseSJd.token/tool/ship",
        f"{base}/ok",
        "mailto:editors@verdicts.example",
    ]
    findings = check_links(urls, settings, timeout=5)
    errors = [f.message for f in findings if f.level is Level.ERROR]
    assert errors[:3] == [  # in the order given
        f"link fails: {base}/missing (HTTP 404)",
        f"link fails: {base}/no-head-gone (HTTP 404)",
        f"link fails: {base}/broken (HTTP 500)",
    ]
    assert errors[3].startswith(f"link fails: {base}/loop (HTTP 302: ")
    assert errors[4:] == [f"link fails: {refused_url} (connection refused)"]
    assert findings[-1] == Finding(
        Level.INFO,
        "link-check",
        f"checked 9 links; skipped 3 per-recipient links under {base} (/u/, /preferences/, "
        "/vote/): they carry a sample reader's signed tokens",
    )
    assert len(findings) == 6

    seen = [(method, path) for method, path, _ in server.seen]
    # HEAD first; a redirect is followed with HEAD; GET only where HEAD is refused.
    assert ("HEAD", "/moved") in seen and seen.count(("HEAD", "/ok")) == 2
    assert ("GET", "/ok") not in seen and ("GET", "/moved") not in seen
    assert ("HEAD", "/no-head") in seen and ("GET", "/no-head") in seen
    assert ("GET", "/forbidden-head") in seen and ("GET", "/missing") not in seen
    # The reader's own links are never followed.
    assert not [path for _, path in seen if path.startswith(("/u/", "/preferences/", "/vote/"))]
    assert all(agent.startswith("verdict-digest-linkcheck") for _, _, agent in server.seen)


def test_a_counted_link_is_checked_at_its_destination_never_through_the_redirect(
    server: Server, settings: Settings
) -> None:
    """Following the redirect would count the check as a reader's click (and
    the subscriber app may not run where the lint does)."""
    site = "http://127.0.0.1:9"  # nothing listens: the redirect is never asked
    clicks = edition_links(dataclasses.replace(settings, site_url=site), "2026-W48")
    assert clicks is not None
    urls = [
        clicks.url("launch:a", f"{server.base}/ok?x=1&y=2"),
        clicks.url("launch:b", f"{server.base}/missing"),
        clicks.url("tool:a", f"{server.base}/ok?x=1&y=2"),  # the same page: checked once
    ]
    findings = check_links(urls, dataclasses.replace(settings, site_url=site), timeout=5)
    assert [f.message for f in findings] == [
        f"link fails: {server.base}/missing (HTTP 404)",
        f"checked 2 links; skipped 0 per-recipient links under {site} (/u/, /preferences/, "
        "/vote/): they carry a sample reader's signed tokens; 3 counted links "
        f"({site}/r/…) checked at their destinations",
    ]
    # Checked in threads: in any order, each once.
    assert sorted((method, path) for method, path, _ in server.seen) == [
        ("HEAD", "/missing"),
        ("HEAD", "/ok?x=1&y=2"),
    ]


def test_a_link_that_never_answers_times_out(server: Server, settings: Settings) -> None:
    findings = check_links([f"{server.base}/slow"], settings, timeout=0.5)
    assert findings[0] == Finding(
        Level.ERROR, "link-check", f"link fails: {server.base}/slow (timed out)"
    )


def test_links_of_a_composed_message(settings: Settings) -> None:
    rendered = Renderer(settings.templates_dir).render(seed_digest())
    extra = (
        '<img src="https://verdicts.example/chart.png" alt="Chart" width="500">'
        '<a href="mailto:editors@verdicts.example">Write to us</a>'
        '<a href="https://verdicts.example/archive/2026-W48">The archive again</a>'
    )
    html = rendered.html.replace("</body>", f"{extra}</body>")
    parts = SegmentParts(rendered.subject, html, rendered.text)
    raw = compose_message(
        parts, Recipient(0, "reader@example.com", None), EditionRef(1, "2026-W48"), settings
    ).data
    # The recipient's tokens, filled in by the composer, stood for by TOKEN.
    found = links_of(read_message(raw))
    links = [re.sub(r"/(u|preferences|vote)/[\w.-]+", r"/\1/TOKEN", url) for url in found]
    site = "https://verdicts.example"
    assert links == [
        f"{site}/archive/2026-W48",
        f"{site}/compare/claude-files-api-vs-claude-haiku-open-weights",
        f"{site}/vote/TOKEN/claude-files-api/ship",
        f"{site}/vote/TOKEN/claude-files-api/skip",
        f"{site}/vote/TOKEN/claude-haiku-open-weights/ship",
        f"{site}/vote/TOKEN/claude-haiku-open-weights/skip",
        "https://tool-2.example/launch?ref=digest",
        "https://tool-1.example/launch?ref=digest",
        f"{site}/u/TOKEN",
        f"{site}/preferences/TOKEN",
        f"{site}/chart.png",
    ]


def test_a_link_that_does_not_parse_is_an_error(settings: Settings) -> None:
    findings = check_links(["http://[oops/"], settings, timeout=1)
    assert findings[0] == Finding(
        Level.ERROR, "link-check", "link fails: http://[oops/ (not a valid URL: Invalid IPv6 URL)"
    )
