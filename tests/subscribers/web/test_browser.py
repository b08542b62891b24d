"""A subscriber's whole journey in a real browser (Debian's Chromium,
headless) against the app served over HTTP on loopback, with the emails
captured by a real SMTP server: subscribe, confirm from the email, change
preferences, vote, unsubscribe with the button.

Screenshots of every page at 375 and 1280 px go to test-artifacts/web/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from subscribers.web.outbox import wait_for_mail
from tests.support.mailparts import parse_message
from tests.support.sample import load_content
from tests.support.smtpserver import Handler, free_port, smtp_server
from tests.support.subscribers import add_confirmed
from tests.support.webapp import serving
from worker.config import PROJECT_ROOT, Settings
from worker.deliver.editions import build_edition, start_edition
from worker.domain.states import SubscriberStatus
from worker.domain.weeks import parse_week
from worker.render.renderer import Renderer
from worker.store.models import Subscriber, Vote

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "web"
WIDTHS = (320, 375, 1280)


@pytest.fixture
def site(
    settings: Settings, sessions: sessionmaker[Session]
) -> Iterator[tuple[str, Handler, sessionmaker[Session]]]:
    """The app on a free loopback port, mailing through a real SMTP server;
    an edition of 2026-W48 has gone out, so a new subscriber is welcomed
    with it (and its links)."""
    handler = Handler()
    with smtp_server(handler) as smtp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = replace(
            settings, site_url=base, mail_url=f"smtp://127.0.0.1:{smtp.port}?starttls=off"
        )
        load_content(sessions)
        week = parse_week("2026-W48")
        build_edition(sessions, week, config, Renderer(config.templates_dir))
        start_edition(sessions, week, config)
        with serving(create_app(config, sessions=sessions), port):
            yield base, handler, sessions


def received(handler: Handler, count: int) -> list[EmailMessage]:
    wait_for_mail()
    assert len(handler.envelopes) == count, [e.rcpt_tos for e in handler.envelopes]
    return [parse_message(envelope.original_content) for envelope in handler.envelopes]


def html_link(message: EmailMessage, base: str, pattern: str) -> str:
    part = message.get_body(("html",))
    assert part is not None
    html = str(part.get_content())  # type: ignore[attr-defined]
    found = re.search(rf'href="({re.escape(base)}/{pattern})"', html)
    assert found, f"no {pattern} link in {message['Subject']}"
    return found[1]


def shoot(browser: object, url: str, name: str, store: str) -> None:
    """Screenshots of ``url`` at each width, checked for horizontal overflow."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
        page.goto(url)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: horizontal overflow at {width}px ({scroll}px)"
        page.screenshot(path=str(ARTIFACTS / f"{store}-{name}-{width}.png"), full_page=True)
        page.close()


def shoot_result(page: object, name: str, store: str) -> None:
    """Screenshots of the page a form's POST answered, at each width."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
        scroll = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert scroll <= width, f"{name}: horizontal overflow at {width}px ({scroll}px)"
        path = ARTIFACTS / f"{store}-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})  # type: ignore[attr-defined]


def press_the_button(page: object, url: str, answer: str, name: str, store: str) -> None:
    """Open ``url``, press its one button and wait for ``answer``; then
    screenshots of the answer."""
    page.goto(url)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector(f"text={answer}")  # type: ignore[attr-defined]
    shoot_result(page, name, store)


def status_of(sessions: sessionmaker[Session], address: str) -> Subscriber:
    with sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert found is not None
        return found


def test_a_subscribers_journey(
    browser: object,
    site: tuple[str, Handler, sessionmaker[Session]],
    request: pytest.FixtureRequest,
) -> None:
    base, handler, sessions = site
    store = request.node.callspec.params["engine"]
    page = browser.new_page(viewport={"width": 375, "height": 800})  # type: ignore[attr-defined]

    # Subscribe, with one category.
    shoot(browser, f"{base}/", "subscribe", store)
    page.goto(f"{base}/")
    page.fill("#email", "grace@example.com")
    page.fill("#name", "Grace Hopper")
    page.check("input[name=category][value='Developer Tools']")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    shoot_result(page, "check-inbox", store)
    assert status_of(sessions, "grace@example.com").status == SubscriberStatus.PENDING

    # Confirm from the email the SMTP server received.
    (confirmation,) = received(handler, 1)
    assert confirmation["To"] == "Grace Hopper <grace@example.com>"
    confirm_url = html_link(confirmation, base, r"confirm/[\w.-]+")
    shoot(browser, confirm_url, "confirm", store)
    assert status_of(sessions, "grace@example.com").status == SubscriberStatus.PENDING
    press_the_button(page, confirm_url, "You are subscribed", "confirmed", store)
    assert status_of(sessions, "grace@example.com").status == SubscriberStatus.CONFIRMED

    # The welcome email carries the latest edition with Grace's own links.
    welcome = received(handler, 2)[1]
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    preferences_url = html_link(welcome, base, r"preferences/[\w.-]+")
    vote_url = html_link(welcome, base, r"vote/[\w.-]+/claude-haiku-open-weights/ship")
    unsubscribe_url = html_link(welcome, base, r"u/[\w.-]+")

    # Preferences: every category, and a pause of two weeks.
    shoot(browser, preferences_url, "preferences", store)
    page.goto(preferences_url)
    assert page.is_checked("input[name=category][value='Developer Tools']")
    page.uncheck("input[name=category][value='Developer Tools']")
    page.check("input[name=all]")
    page.check("input[name=pause][value='2']")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Saved")
    shoot_result(page, "preferences-saved", store)
    grace = status_of(sessions, "grace@example.com")
    assert grace.categories == "" and grace.paused_until is not None

    # Vote: the confirm page shows the verdict table; the button records it.
    shoot(browser, vote_url, "vote", store)
    page.goto(vote_url)
    assert page.is_visible("text=Panel ship") and page.is_visible("text=50%")
    page.click("button[type=submit]")
    page.wait_for_selector("text=your vote")
    shoot_result(page, "voted", store)
    with sessions() as session:
        assert session.scalars(select(Vote.verdict)).all() == ["ship"]

    # Unsubscribe with the button (the GET alone changed nothing).
    shoot(browser, unsubscribe_url, "unsubscribe", store)
    assert status_of(sessions, "grace@example.com").status == SubscriberStatus.CONFIRMED
    press_the_button(page, unsubscribe_url, "You are unsubscribed", "unsubscribed", store)
    assert status_of(sessions, "grace@example.com").status == SubscriberStatus.UNSUBSCRIBED
    page.close()


def test_a_vote_from_a_comparisons_page(
    browser: object,
    site: tuple[str, Handler, sessionmaker[Session]],
    request: pytest.FixtureRequest,
) -> None:
    """The page a digest's comparison title opens, its buttons, and the vote
    link they have mailed, in the browser: the vote counts once the
    subscriber presses the button of the mailed link."""
    base, handler, sessions = site
    store = request.node.callspec.params["engine"]
    add_confirmed(sessions, "ada@example.com")
    shoot(
        browser,
        f"{base}/compare/inkwell-notes-ai-vs-margin-copilot-vs-tallyhand",
        "compare-3",
        store,
    )
    seed = f"{base}/compare/claude-files-api-vs-claude-haiku-open-weights"
    shoot(browser, seed, "compare", store)
    page = browser.new_page(viewport={"width": 375, "height": 800})  # type: ignore[attr-defined]
    page.goto(seed)
    assert page.title() == "Claude Files API vs Claude Haiku Open Weights · Weekly AI Tool Verdicts"
    page.click("a.vote.ship >> nth=1")  # Claude Haiku Open Weights
    page.wait_for_selector("text=Vote “Ship it”")
    shoot_result(page, "vote-ask", store)
    page.fill("#email", "ada@example.com")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    with sessions() as session:
        assert session.scalars(select(Vote.verdict)).all() == []
    (mailed,) = received(handler, 1)
    assert mailed["To"] == "ada@example.com"
    vote_url = html_link(mailed, base, r"vote/[\w.-]+/claude-haiku-open-weights/ship")
    press_the_button(page, vote_url, "your vote", "voted-from-site", store)
    with sessions() as session:
        assert session.scalars(select(Vote.verdict)).all() == ["ship"]
    page.goto(seed)
    assert page.is_visible("text=100% (1 of 1 votes)")
    page.close()
