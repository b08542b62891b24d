"""Generated RSS feeds of many entries: alike titles, distinct ones, dated
ones, for the ingest tests and bench/ingest.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.utils import format_datetime
from xml.sax.saxutils import escape

FIRST_DAY = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def item(title: str, guid: str, link: str, published: dt.datetime | None = None) -> str:
    """One RSS item; ``published`` None leaves the entry undated."""
    date = f"<pubDate>{format_datetime(published)}</pubDate>" if published else ""
    return (
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{escape(guid)}</guid>{date}'
        f"<description>{escape(title)}: what it does, in one line.</description></item>\n"
    )


def rss(items: list[str], title: str = "Generated launches") -> bytes:
    """An RSS 2.0 document of ``items``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://generated.example/</link>\n"
        + "".join(items)
        + "</channel></rss>\n"
    ).encode()


def numbered_feed(count: int, title: Callable[[int], str], prefix: str = "gen") -> bytes:
    """``count`` entries, the newest first (a minute apart), each with its own
    guid and link; ``title(n)`` names entry ``n`` (0 is the newest)."""
    return rss(
        [
            item(
                title(n),
                f"{prefix}:{n}",
                f"https://{prefix}.example/tools/{n}",
                FIRST_DAY - dt.timedelta(minutes=n),
            )
            for n in range(count)
        ]
    )


def alike_feed(count: int) -> bytes:
    """``count`` entries all titled "Tool"."""
    return numbered_feed(count, lambda _n: "Tool", "alike")


def distinct_feed(count: int) -> bytes:
    """``count`` entries, each titled differently."""
    return numbered_feed(count, lambda n: f"Distinct Tool {n}", "distinct")
