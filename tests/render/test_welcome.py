"""The welcome mail's render (worker/render/welcome.py and
Renderer.render_welcome): the welcome copy's card under the header of the
latest edition's stored render, or alone before the first edition."""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.render.test_renderer import visible_text
from tests.support.digests import long_launches_digest, seed_digest
from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.config import PROJECT_ROOT, Settings
from worker.domain import markdown, placeholders
from worker.domain.editorial import (
    WELCOME_HTML_MAX,
    EditorialFileError,
    WelcomeCopy,
    read_welcome_copy,
)
from worker.editor.lint.htmlscan import scan_html
from worker.editor.lint.rules import Level, lint_message
from worker.render.renderer import HTML_BUDGET, WELCOME_PREHEADER, Renderer
from worker.render.welcome import MARKER, LatestEdition

COPY = """---
subject: "Hello from the panel"
preheader: "Four seats, one verdict, every week."
---
**Glad you're here.** Read [how the panel works](https://verdicts.example/method).
"""


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(PROJECT_ROOT / "templates")


def latest(renderer: Renderer) -> LatestEdition:
    edition = renderer.render(seed_digest())
    return LatestEdition(edition.html, edition.text)


def test_the_card_sits_under_the_editions_header_and_the_rest_is_the_edition(
    renderer: Renderer,
) -> None:
    edition = latest(renderer)
    assert edition.html.count(MARKER) == 1
    out = renderer.render_welcome(read_welcome_copy(COPY), "Verdicts", "1 Main St", edition)
    assert (out.subject, out.preheader) == ("Hello from the panel", COPY.split('"')[3])

    shown = visible_text(out.html)
    assert shown.index("Week 48") < shown.index("Glad you're here.") < shown.index("Claude Files")
    assert '<a href="https://verdicts.example/method" rel="noopener noreferrer">' in out.html
    # After the card, the edition as it went out, byte for byte.
    assert out.html.endswith(edition.html.split(MARKER)[1])
    assert MARKER not in out.html
    # The welcome's title and preview text, not the edition's.
    assert "<title>Hello from the panel</title>" in out.html
    assert 'aria-label="Hello from the panel"' in out.html
    assert scan_html(out.html).preheader == "Four seats, one verdict, every week."
    assert "Panel verdicts on 1 comparison" not in out.html

    # The text part: the copy (links as footnotes), then the edition's text whole.
    assert out.text.startswith("Glad you're here. Read how the panel works [1].")
    assert "[1] https://verdicts.example/method" in out.text.split("=" * 72)[0]
    assert out.text.endswith(edition.text)


def test_an_edition_rendered_before_the_marker_gets_the_card_first_on_its_page(
    renderer: Renderer,
) -> None:
    edition = latest(renderer)
    older = LatestEdition(edition.html.replace(MARKER, ""), edition.text)
    out = renderer.render_welcome(read_welcome_copy(COPY), "Verdicts", "1 Main St", older)
    shown = visible_text(out.html)
    assert shown.index("Glad you're here.") < shown.index("View in browser")
    assert out.html.endswith(older.html.split('role="article"')[1].split(">", 1)[1])


def test_before_the_first_edition_the_copy_stands_alone_with_the_list_footer(
    renderer: Renderer,
) -> None:
    copy = WelcomeCopy(body="Welcome aboard.")  # no subject or preheader: the defaults
    out = renderer.render_welcome(copy, "Verdicts", "1 Main St")
    assert out.subject == "Welcome to Verdicts"
    assert scan_html(out.html).preheader == WELCOME_PREHEADER
    assert f"{WELCOME_PREHEADER} Verdicts Welcome aboard. You get this" in visible_text(out.html)
    assert "latest edition" not in out.html + out.text
    for part in (out.html, out.text):
        assert placeholders.UNSUBSCRIBE_URL in part and placeholders.PREFERENCES_URL in part
        assert "1 Main St" in part


def test_copy_that_poses_as_a_placeholder_gets_nobodys_links(renderer: Renderer) -> None:
    copy = WelcomeCopy(subject="Hi %%unsubscribe_url%%", body="Vote: %%vote_token%%")
    out = renderer.render_welcome(copy, "Verdicts", "1 Main St", latest(renderer))
    welcome_part = out.html.split("Claude Files")[0] + out.text.split("=" * 72)[0]
    assert "%%" not in welcome_part + out.subject
    assert "%25%25vote_token%25%25" in out.text


def test_the_largest_copy_above_the_largest_edition_is_not_clipped_by_gmail(
    renderer: Renderer, settings: Settings
) -> None:
    """An edition renders to at most HTML_BUDGET and a welcome copy's body
    to at most WELCOME_HTML_MAX: together, with a reader's links filled in,
    the message still passes the lint (under Gmail's 102 KB clip)."""
    paragraph = "A welcome that goes on about [the panel](https://verdicts.example/method). " * 3
    body = ""
    while len(markdown.to_html(body + paragraph).encode()) <= WELCOME_HTML_MAX:
        body += paragraph + "\n\n"
    copy = read_welcome_copy(body)
    with pytest.raises(EditorialFileError, match=r"welcome copy:1: body: renders to [\d,]+ bytes"):
        read_welcome_copy(body + paragraph)
    digest = long_launches_digest()
    edition = renderer.render(digest)
    assert HTML_BUDGET - 3_000 < len(edition.html.encode()) <= HTML_BUDGET
    out = renderer.render_welcome(
        copy, digest.list_name, digest.postal_address, LatestEdition(edition.html, edition.text)
    )
    settings = dataclasses.replace(settings, postal_address=digest.postal_address)
    reader = Recipient(7, "reader@example.com", "Reader")
    parts = SegmentParts(out.subject, out.html, out.text)
    message = compose_message(parts, reader, EditionRef(1, "2026-W48"), settings)
    findings = lint_message(message.data, settings)
    print(f"\nthe largest welcome: {next(f.message for f in findings if f.check == 'size')}")
    assert [f for f in findings if f.level is Level.ERROR] == []
    assert not re.search(r"%%\w+%%", message.data.decode("ascii"))
