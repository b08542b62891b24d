"""Untrusted text and HTML made safe for an email: nh3 for HTML, plain text
collapsed to one line so nothing can smuggle a header or a script."""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = {"p", "a", "em", "strong", "code", "ul", "ol", "li", "br", "blockquote"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}

# Everything that is not printable on one line: C0/C1 controls, line and
# paragraph separators, and runs of whitespace.
_NOT_ONE_LINE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_html(fragment: str) -> str:
    """``fragment`` with only a small allow-list of tags; links get rel=noopener."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    ).strip()


def plain_text(fragment: str, limit: int | None = None) -> str:
    """The text of ``fragment`` on one line, tags dropped, cut to ``limit``
    characters at a word with "…"."""
    text = html.unescape(nh3.clean(fragment, tags=set()))
    if "<" in text:
        # Markup that arrived escaped (feeds do this) is still markup.
        text = html.unescape(nh3.clean(text, tags=set()))
    text = _NOT_ONE_LINE.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        cut = text[: limit - 1]
        if " " in cut[limit // 2 :]:
            cut = cut[: cut.rfind(" ")]
        text = cut.rstrip(" ,;:") + "…"
    return text
