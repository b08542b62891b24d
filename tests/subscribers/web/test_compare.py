"""A comparison's page, ``/compare/<slug>`` (subscribers/web/compare.py), on
both stores: what the digest shows of it, every reviewer's quote and vote
buttons that lead to the site's vote page; 404 for what no edition shows;
everything from the content escaped."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.sample import load_content
from worker.config import Settings
from worker.store.models import Comparison, Review, Subscriber, Tool, Vote

SEED = "claude-files-api-vs-claude-haiku-open-weights"


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> FlaskClient:
    load_content(sessions)
    return create_app(settings, sessions=sessions).test_client()


class Rows(HTMLParser):
    """The text of each cell of each row of a page's tables, and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parsed(page: bytes) -> Rows:
    rows = Rows()
    rows.feed(page.decode())
    return rows


def test_the_page_shows_the_digests_verdict_table_across_its_tools(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        people = [Subscriber(email=f"v{i}@example.com") for i in range(3)]
        session.add_all(people)
        session.flush()
        haiku = session.scalars(select(Tool).where(Tool.slug == "claude-haiku-open-weights")).one()
        for person, verdict in zip(people, ["ship", "ship", "skip"], strict=True):
            session.add(Vote(tool_id=haiku.id, subscriber_id=person.id, verdict=verdict))
    page = client.get(f"/compare/{SEED}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.data.decode()
    title = "Claude Files API vs Claude Haiku Open Weights"
    assert f"<title>{title} · Weekly AI Tool Verdicts</title>" in text
    assert f"<h1>{title}</h1>" in text and "Which one should you ship with?" in text
    assert parsed(page.data).rows == [
        ["", "Claude Files API", "Claude Haiku Open Weights"],
        ["Panel ship", "100% (4 of 4)", "50% (2 of 4)"],
        ["Community", "—", "67% (2 of 3 votes)"],
        ["Entry", "Paid", "Free"],
        ["Reviewer split"],
        ["Builder", "✓ Ship", "✓ Ship"],
        ["Skeptic", "✓ Ship", "✗ Skip"],
        ["Buyer", "✓ Ship", "✗ Skip"],
        ["Futurist", "✓ Ship", "✓ Ship"],
    ]


def test_the_page_has_every_quote_whole_and_vote_buttons_that_lead_to_a_vote_page(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    page = client.get(f"/compare/{SEED}")
    text = page.data.decode()
    with sessions() as session:
        quotes = session.scalars(
            select(Review.quote)
            .join(Tool)
            .where(Tool.slug.in_(["claude-files-api", "claude-haiku-open-weights"]))
        ).all()
    assert len(quotes) == 8
    for quote in quotes:
        assert str(escape(" ".join(quote.split()))) in text
    votes = [href for href in parsed(page.data).links if href.startswith("/vote/")]
    assert votes == [
        "/vote/claude-files-api/ship",
        "/vote/claude-files-api/skip",
        "/vote/claude-haiku-open-weights/ship",
        "/vote/claude-haiku-open-weights/skip",
    ]
    for href in votes:
        asked = client.get(href)
        assert asked.status_code == 200 and b'name="email"' in asked.data, href


def test_a_tool_with_its_own_url_links_there_from_the_page(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    page = client.get("/compare/prismatic-canvas-vs-sketchloom")
    assert page.status_code == 200
    links = parsed(page.data).links
    assert "https://prismatic.example/canvas" in links and "https://sketchloom.example/" in links


@pytest.mark.parametrize(
    "slug", ["no-such-comparison", "hidden", "unpublished", "x" * 300, "Claude%20Files"]
)
def test_what_no_edition_shows_is_a_404(
    client: FlaskClient, sessions: sessionmaker[Session], slug: str
) -> None:
    with sessions.begin() as session:
        rows = {c.slug: c for c in session.scalars(select(Comparison))}
        rows[SEED].slug, rows[SEED].hidden_at = "hidden", dt.datetime.now(dt.UTC)
        rows["prismatic-canvas-vs-sketchloom"].slug = "unpublished"
        rows["prismatic-canvas-vs-sketchloom"].published_at = None
    missing = client.get(f"/compare/{slug}")
    assert missing.status_code == 404
    assert b"<title>No such comparison" in missing.data
    assert b"Claude Files API" not in missing.data and b"Prismatic" not in missing.data


def test_everything_from_the_content_is_escaped(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    hostile = '<script>alert("t")</script>'
    with sessions.begin() as session:
        seed = session.scalars(select(Comparison).where(Comparison.slug == SEED)).one()
        seed.title = f"{hostile} vs </title><b>"
        seed.summary = '"><img src=x onerror=alert(1)>'
        tool = seed.entries[0].tool
        tool.name, tool.vendor, tool.tagline = hostile, "<i>Evil</i>", "</p><iframe>"
        tool.url = "javascript:alert(1)"
        tool.entry_price = "<marquee>"
        tool.reviews[0].quote = "</blockquote><script>alert(2)</script>"
    page = client.get(f"/compare/{SEED}")
    assert page.status_code == 200
    text = page.data.decode()
    for tag in ("<script", "<img", "<iframe", "<marquee", "<i>Evil", "</title><b>"):
        assert tag not in text, tag
    assert "javascript:" not in text
    assert f"<title>{escape(hostile)} vs &lt;/title&gt;&lt;b&gt; · " in text
    # Shown as written, neither run nor stripped.
    assert parsed(page.data).rows[0][1] == hostile
