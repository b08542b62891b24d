"""A reader's click, in a real browser (Debian's Chromium, headless): from a
sent ``.eml`` (the file backend) through ``/r/…`` on the app served over
HTTP on loopback, to the tool's page on another loopback server; then
``digest report`` counts it. Altered links and foreign destinations are
refused. With ``CLICK_COUNTS=off`` the links are written as they are.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.cli import CliRunnerCall
from tests.support.httpserver import serving as serving_handler
from tests.support.mailparts import parse_message
from tests.support.sample import W48, load_content
from tests.support.smtpserver import free_port
from tests.support.subscribers import add_confirmed
from tests.support.webapp import serving
from worker.config import Settings
from worker.deliver.editions import build_edition
from worker.deliver.runner import send_edition
from worker.mail import backend_from_url
from worker.render.renderer import Renderer
from worker.store.models import Tool


class ToolSite(BaseHTTPRequestHandler):
    """A tool's own site: a page per path, and what it was asked."""

    seen: ClassVar[list[tuple[str, str | None]]] = []
    lock = threading.Lock()

    def do_GET(self) -> None:
        if self.path != "/favicon.ico":  # the browser's own asking
            with self.lock:
                self.seen.append((self.path, self.headers.get("Referer")))
        body = b"<!doctype html><title>Tool page</title><h1>The tool's own page</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def tool_site() -> Iterator[str]:
    ToolSite.seen = []
    with serving_handler(ToolSite) as port:
        yield f"http://127.0.0.1:{port}"


def sent_week(
    sessions: sessionmaker[Session], settings: Settings, outbox: Path, tool_site: str
) -> list[Path]:
    """The sample content, every tool's page on ``tool_site``, one reader;
    2026-W48 built and sent to the file outbox: the ``.eml`` files."""
    load_content(sessions)
    with sessions.begin() as session:
        session.execute(
            update(Tool).values(url=tool_site + "/tools/" + Tool.slug + "?ref=digest&x=1")
        )
    add_confirmed(sessions, "reader@example.com")
    build_edition(sessions, W48, settings, Renderer(settings.templates_dir))
    _, status = send_edition(sessions, W48, settings, backend_from_url(settings.mail_url))
    assert status == "sent"
    return sorted(outbox.glob("*.eml"))


def html_of(eml: Path) -> str:
    part = parse_message(eml.read_bytes()).get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def report_of(database_url: str, site: str) -> dict[str, int]:
    digest = CliRunnerCall(database_url)
    digest.env["SITE_URL"] = site
    result = digest("report", "--json")
    assert result.exit_code == 0, result.output
    (edition,) = json.loads(result.output)["editions"]
    return {item["item"]: item["clicks"] for item in edition["items"]}


def test_a_click_from_the_email_reaches_the_tool_and_is_counted(
    browser: object,
    settings: Settings,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    tool_site: str,
) -> None:
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    outbox = tmp_path / "outbox"
    config = dataclasses.replace(settings, site_url=site, mail_url=f"file://{outbox}")
    (eml,) = sent_week(sessions, config, outbox, tool_site)
    html = html_of(eml)
    counted = [unescape(h) for h in re.findall(rf'href="({re.escape(site)}/r/[^"]+)"', html)]
    launches = [link for link in counted if ".l." in link.split("?")[0]]
    assert launches, "no counted launch link in the email"
    link = launches[0]
    slug = link.split("?")[0].split(".")[-2]
    destination = f"{tool_site}/tools/{slug}?ref=digest&x=1"
    assert link.endswith("?to=" + quote(destination, safe="/:@!$()*,=?~"))
    # A reader's own links are theirs, never through the redirect.
    assert re.search(rf'href="{re.escape(site)}/vote/[\w.-]+/[\w-]+/ship"', html)
    assert re.search(rf'href="{re.escape(site)}/u/[\w.-]+"', html)

    with serving(create_app(config, sessions=sessions), port):
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(link)
        assert page.url == destination
        assert page.text_content("h1") == "The tool's own page"
        # The tool's site was asked once, for the page the email named.
        assert ToolSite.seen == [(f"/tools/{slug}?ref=digest&x=1", None)]
        assert report_of(database_url, site) == {f"launch:{slug}": 1}

        # Altered links: a 400 page on our site, never a redirect.
        token = link.split("?")[0].rsplit("/", 1)[1]
        week, kind, name, mac = token.split(".")
        flipped = ("B" if mac[0] == "A" else "A") + mac[1:]
        for bad in (
            f"{site}/r/{week}.{kind}.{name}.{flipped}?to={quote(destination, safe='/:')}",
            f"{site}/r/{token}?to=https://evil.example/",
            f"{site}/r/{token}?to={quote(tool_site, safe='/:')}/elsewhere",
        ):
            answer = page.goto(bad)
            assert answer is not None and answer.status == 400, bad
            assert page.url == bad
            assert page.is_visible("text=This link is not valid")
        page.close()
    assert len(ToolSite.seen) == 1  # nothing else reached the tool's site
    assert report_of(database_url, site) == {f"launch:{slug}": 1}


def test_off_writes_every_link_as_it_is(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path, tool_site: str
) -> None:
    outbox = tmp_path / "outbox"
    config = dataclasses.replace(settings, mail_url=f"file://{outbox}", click_counts=False)
    (eml,) = sent_week(sessions, config, outbox, tool_site)
    html = html_of(eml)
    text = parse_message(eml.read_bytes()).get_body(("plain",))
    assert text is not None
    for part in (html, str(text.get_content())):  # type: ignore[attr-defined]
        assert "/r/" not in part
        assert f"{tool_site}/tools/" in part
    assert re.search(rf'href="{re.escape(tool_site)}/tools/[\w-]+\?ref=digest&amp;x=1"', html)
