"""The embed snippet of docs/subscribers.md, as written there, in a real
browser (Debian's Chromium, headless): served from one loopback origin
against the app on another. From a listed origin the answer shows under the
button, the confirmation goes out and the browser's zone is stored; from an
unlisted one the browser blocks the call and the box falls back to the
plain form; without JavaScript it is the plain form. And the app's own
subscribe form fills in the zone under its Content-Security-Policy."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.httpserver import serving as serving_handler
from tests.support.pages import sent, subscriber
from tests.support.sample import load_content
from tests.support.smtpserver import free_port
from tests.support.webapp import serving
from worker.config import PROJECT_ROOT, Settings

DOCUMENTED_SITE = "https://verdicts.example"


def snippet() -> str:
    """The HTML block under ``<!-- embed-snippet -->`` in docs/subscribers.md."""
    text = (PROJECT_ROOT / "docs" / "subscribers.md").read_text(encoding="utf-8")
    found = re.search(
        r"<!-- embed-snippet -->\n```html\n(.*?)```\n<!-- /embed-snippet -->", text, re.S
    )
    assert found, "docs/subscribers.md has no embed snippet"
    return found[1]


@dataclass
class Seen:
    """The requests the app received: method and path."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: Flask) -> None:
        inner = app.wsgi_app

        def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            with self.lock:
                self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
            return inner(environ, start_response)

        app.wsgi_app = recording  # type: ignore[method-assign]

    def to(self, path: str) -> list[str]:
        with self.lock:
            return [method for method, seen_path in self.requests if seen_path == path]


@dataclass
class World:
    app: str  # the app's base URL
    listed: str  # a page of a listed site, holding the snippet
    unlisted: str  # the same page on a site that is not listed
    seen: Seen


def page_server(html: str) -> type[BaseHTTPRequestHandler]:
    """A handler answering every GET with ``html``: the comparison site."""
    body = (
        "<!doctype html><html lang='en'><body><main>A comparison</main>"
        f"<footer>{html}</footer></body></html>"
    )

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    return Page


BOX = "form.verdict-digest"


def open_box(browser: Any, url: str, **context: Any) -> Any:
    """A page at ``url`` in a browser context of its own (``context``: its
    options, such as the zone it is in)."""
    page = browser.new_context(**context).new_page()
    page.goto(url)
    return page


def send_box(page: Any, address: str) -> None:
    """Fill in ``address`` in the subscribe box of ``page`` and press its button."""
    page.fill(f"{BOX} input[name=email]", address)
    page.click(f"{BOX} button[type=submit]")


@pytest.fixture
def world(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[World]:
    load_content(sessions)
    app_port = free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    html = snippet().replace(DOCUMENTED_SITE, app_url)
    with (
        serving_handler(page_server(html)) as listed_port,
        serving_handler(page_server(html)) as unlisted_port,
    ):
        listed = f"http://127.0.0.1:{listed_port}"
        config = replace(settings, site_url=app_url, allowed_origins=(listed,))
        app = create_app(config, sessions=sessions)
        seen = Seen()
        seen.wrap(app)
        with serving(app, app_port):
            yield World(
                app_url, f"{listed}/compare", f"http://127.0.0.1:{unlisted_port}/compare", seen
            )


def test_the_snippet_subscribes_from_a_listed_site_without_leaving_the_page(
    browser: Any, world: World, sessions: sessionmaker[Session]
) -> None:
    page = open_box(browser, world.listed, timezone_id="Asia/Singapore")
    assert page.input_value(f"{BOX} input[name=timezone]") == "Asia/Singapore"
    send_box(page, "footer@example.com")
    page.wait_for_selector("text=an email is on its way to it")
    assert page.url == world.listed  # the answer is inline
    assert page.text_content(f"{BOX} [role=status]") == (
        "If the address can receive Weekly AI Tool Verdicts, an email is on its way to it. "
        "Open it and confirm with one click."
    )
    stored = subscriber(sessions, "footer@example.com")
    assert stored is not None and (stored.status, stored.timezone) == ("pending", "Asia/Singapore")
    (confirmation,) = sent()
    assert confirmation["To"] == "footer@example.com" and "Confirm" in confirmation["Subject"]
    assert world.seen.to("/api/subscribe") == ["OPTIONS", "POST"]  # preflight, then the call

    # An address the browser takes and the server does not: the reason
    # shows, nothing is stored.
    send_box(page, "reader@intranet")
    page.wait_for_selector("text=is not a valid address")
    assert page.text_content(f"{BOX} [role=status]").startswith(
        "email: 'reader@intranet' is not a valid address"
    )
    assert subscriber(sessions, "reader@intranet") is None
    page.context.close()


def test_a_zone_the_server_does_not_know_is_left_out(
    browser: Any, world: World, sessions: sessionmaker[Session]
) -> None:
    page = open_box(browser, world.listed)
    # What Chrome reports when it cannot tell the zone.
    page.eval_on_selector(f"{BOX} input[name=timezone]", "e => e.value = 'Etc/Unknown'")
    send_box(page, "nowhere@example.com")
    page.wait_for_selector("text=an email is on its way to it")
    stored = subscriber(sessions, "nowhere@example.com")
    assert stored is not None and stored.timezone is None
    assert world.seen.to("/api/subscribe").count("POST") == 2  # refused, then without the zone
    page.context.close()


def test_from_an_unlisted_site_the_browser_blocks_the_call(
    browser: Any, world: World, sessions: sessionmaker[Session]
) -> None:
    page = open_box(browser, world.unlisted, timezone_id="America/Los_Angeles")
    # The call itself: the browser refuses it after the preflight.
    failed = page.evaluate(
        """api => fetch(api, {method: "POST", headers: {"Content-Type": "application/json"},
                             body: JSON.stringify({email: "blocked@example.com"})})
                 .then(() => "read", error => error.name)""",
        f"{world.app}/api/subscribe",
    )
    assert failed == "TypeError"
    assert world.seen.to("/api/subscribe") == ["OPTIONS"]  # the POST never left the browser
    assert subscriber(sessions, "blocked@example.com") is None

    # The box falls back to the plain form, and the reader lands on the app's page.
    send_box(page, "fallback@example.com")
    page.wait_for_url(f"{world.app}/subscribe")
    page.wait_for_selector("text=Check your inbox")
    assert "POST" not in world.seen.to("/api/subscribe")
    stored = subscriber(sessions, "fallback@example.com")
    assert stored is not None and stored.timezone == "America/Los_Angeles"
    assert [m["To"] for m in sent()] == ["fallback@example.com"]
    page.context.close()


def test_without_javascript_the_snippet_is_a_plain_form(
    browser: Any, world: World, sessions: sessionmaker[Session]
) -> None:
    page = open_box(browser, world.listed, java_script_enabled=False)
    send_box(page, "nojs@example.com")
    page.wait_for_url(f"{world.app}/subscribe")
    page.wait_for_selector("text=Check your inbox")
    stored = subscriber(sessions, "nojs@example.com")
    assert stored is not None and stored.timezone is None  # the list's zone
    assert world.seen.to("/api/subscribe") == []
    page.context.close()


def test_the_apps_own_form_fills_in_the_zone_under_its_policy(
    browser: Any, world: World, sessions: sessionmaker[Session]
) -> None:
    page = browser.new_context(timezone_id="Pacific/Kiritimati").new_page()
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text))
    page.goto(f"{world.app}/")
    assert page.input_value("#timezone") == "Pacific/Kiritimati"
    assert not [text for text in said if "Content Security Policy" in text]
    page.fill("#email", "own@example.com")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    stored = subscriber(sessions, "own@example.com")
    assert stored is not None and stored.timezone == "Pacific/Kiritimati"
    page.context.close()
