"""Parsing a fetched feed with feedparser.

feedparser's ``bozo`` problems are warnings unless the feed yields no
entries and no version. A body that makes feedparser itself raise is that
feed's error, never the run's: a numeric character reference to no
character (a lone surrogate such as ``&#xD800;``, or past U+10FFFF) made its
lenient parser raise, so such references are read as U+FFFD first, as an
HTML parser reads them; any other failure of feedparser's is reported as
the feed's error.
"""

from __future__ import annotations

import re

import feedparser

from worker.config import redact_url
from worker.errors import FeedError, driver_words
from worker.ingest.fetch import Response

_REFERENCE = re.compile(rb"&#([xX][0-9a-fA-F]+|[0-9]+);")
_REPLACEMENT = b"&#xFFFD;"


def parse(url: str, response: Response) -> feedparser.FeedParserDict:
    """The feed in ``response``; a ``FeedError`` when it is not a feed at all."""
    try:
        parsed = feedparser.parse(
            _characters_only(response.body),
            response_headers=response.headers,
            sanitize_html=False,  # nh3 sanitises, with our own allow-list
            resolve_relative_uris=True,
        )
    except Exception as error:  # a body feedparser cannot take fails only its feed
        raise FeedError(url, f"not a feed: the parser failed: {driver_words(error)}") from None
    if parsed.bozo and not parsed.entries and not parsed.version:
        problem = parsed.get("bozo_exception")
        raise FeedError(url, f"not a feed: {problem}" if problem else "not a feed")
    return parsed


def warnings(url: str, parsed: feedparser.FeedParserDict) -> list[str]:
    """The problems feedparser met in a feed it could read, one line each."""
    if parsed.bozo and parsed.get("bozo_exception") is not None:
        return [f"{redact_url(url)}: parsed with problems: {parsed.bozo_exception}"]
    return []


def _characters_only(body: bytes) -> bytes:
    """``body`` with each numeric character reference that names no
    character replaced by one to U+FFFD (in an ASCII-compatible encoding,
    which is nearly every feed's)."""
    return _REFERENCE.sub(_repaired, body) if b"&#" in body else body


def _repaired(match: re.Match[bytes]) -> bytes:
    digits = match[1]
    if len(digits.lstrip(b"xX0")) > 7:  # past U+10FFFF (1114111) however written
        return _REPLACEMENT
    number = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
    if 0xD800 <= number <= 0xDFFF or number > 0x10FFFF:
        return _REPLACEMENT
    return match[0]
