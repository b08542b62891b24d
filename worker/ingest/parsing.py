"""Parsing a fetched feed with feedparser.

feedparser's ``bozo`` problems are warnings unless the feed yields no
entries and no version.
"""

from __future__ import annotations

import feedparser

from worker.config import redact_url
from worker.errors import FeedError
from worker.ingest.fetch import Response


def parse(url: str, response: Response) -> feedparser.FeedParserDict:
    """The feed in ``response``; a ``FeedError`` when it is not a feed at all."""
    parsed = feedparser.parse(
        response.body,
        response_headers=response.headers,
        sanitize_html=False,  # nh3 sanitises, with our own allow-list
        resolve_relative_uris=True,
    )
    if parsed.bozo and not parsed.entries and not parsed.version:
        problem = parsed.get("bozo_exception")
        raise FeedError(url, f"not a feed: {problem}" if problem else "not a feed")
    return parsed


def warnings(url: str, parsed: feedparser.FeedParserDict) -> list[str]:
    """The problems feedparser met in a feed it could read, one line each."""
    if parsed.bozo and parsed.get("bozo_exception") is not None:
        return [f"{redact_url(url)}: parsed with problems: {parsed.bozo_exception}"]
    return []
