"""The welcome mail's card put into the latest edition's stored render.

An edition that went out is kept as rendered (HTML and text with the
per-recipient placeholders), never rendered again. The welcome mail is that
render with the welcome copy's card under the edition's header, where
``digest.mjml.j2`` leaves an empty ``<div id="welcome">``, and with the
welcome's title and preview text in place of the edition's. The card is
compiled by mjml-python from ``welcome.mjml.j2`` like any other mail and
cut out between its two markers, so its markup is the engine's, not
hand-written. Renders from before the marker existed get the card at the
top of the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.errors import RenderError

#: Where digest.mjml.j2 leaves room for the card.
MARKER = '<div id="welcome"></div>'
_START = '<div id="welcome-start"></div>'
_END = '<div id="welcome-end"></div>'

_TITLE = re.compile(r"<title>.*?</title>", re.S)
# The page's wrapper, labelled with the title for screen readers.
_ARTICLE = re.compile(r'<div\b[^>]*\brole="article"[^>]*>')
_LABEL = re.compile(r'\baria-label="[^"]*"')
# mjml's preview text: the first element of the body, hidden.
_PREVIEW = re.compile(r'(<body\b[^>]*>)(<div style="display:none;[^"]*">.*?</div>)?', re.S)


@dataclass(frozen=True)
class LatestEdition:
    """The latest edition as a segment got it: its stored HTML and text."""

    html: str
    text: str


def card_of(welcome_html: str) -> str:
    """The welcome card of a compiled ``welcome.mjml.j2``: the HTML between
    its markers."""
    start, end = welcome_html.find(_START), welcome_html.find(_END)
    if start < 0 or end < start:
        raise RenderError("welcome.mjml.j2: the welcome-start and welcome-end markers are missing")
    return welcome_html[start + len(_START) : end]


def welcome_over(edition_html: str, welcome_html: str) -> str:
    """``edition_html`` with the card, title and preview text of
    ``welcome_html`` (a compiled ``welcome.mjml.j2``): the card where the
    edition's marker stands, else first on its page."""
    card = card_of(welcome_html)
    html = _with_title(edition_html, welcome_html)
    if MARKER in html:
        html = html.replace(MARKER, card, 1)
    else:
        top = _ARTICLE.search(html) or re.search(r"<body\b[^>]*>", html)
        at = top.end() if top else 0
        html = html[:at] + card + html[at:]
    return html


def _with_title(edition_html: str, welcome_html: str) -> str:
    """``edition_html`` with the title, label and preview text of ``welcome_html``."""
    title = _TITLE.search(welcome_html)
    preview = _PREVIEW.search(welcome_html)
    article = _ARTICLE.search(welcome_html)
    label = _LABEL.search(article[0]) if article else None
    html = edition_html
    if title:
        html = _TITLE.sub(lambda _: title[0], html, count=1)
    if label:
        html = _ARTICLE.sub(lambda m: _LABEL.sub(lambda _: label[0], m[0], count=1), html, count=1)
    if preview and preview[2]:
        html = _PREVIEW.sub(lambda m: m[1] + preview[2], html, count=1)
    return html
