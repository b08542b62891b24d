"""One feed entry → a launch to store, checked and cut to fit the ``tool`` table.

An entry that cannot be stored (no title, a link that does not parse or does
not fit its column) is skipped with the reason; free text too long for its
column is cut, and its HTML is sanitised. The canonical URL is the second
dedupe key after the guid. Of a feed with more entries than a fetch may
store, the newest are chosen (``newest``) before any is made a launch.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from worker.config import Settings
from worker.errors import DigestError
from worker.ingest.lengths import (
    CATEGORY_MAX,
    CONTROL,
    LINK_MAX,
    NAME_MAX,
    PRICE_MAX,
    TAGLINE_MAX,
    VENDOR_MAX,
    label,
)
from worker.ingest.sanitise import clean_html, plain_text
from worker.now import process_now

TRACKING = re.compile(r"^(utm_.*|ref|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)
# Entries carry the tool's vendor and price in this namespace, under whatever
# prefix the feed binds it to.
NAMESPACE = "https://verdicts.example/ns/1"


class Skip(DigestError):
    """An entry that cannot be stored; the message says why."""


@dataclass(frozen=True)
class Launch:
    """An entry's fields, checked and cut to fit the ``tool`` table."""

    name: str
    guid: str | None
    url: str | None
    canonical_url: str | None
    vendor: str | None
    category: str | None
    tagline: str | None
    description: str | None
    entry_price: str | None
    launched_on: dt.date


def launch(entry: Any, prefixes: Sequence[str], category: str | None, settings: Settings) -> Launch:
    """The launch an entry describes; raises ``Skip`` when it cannot be stored."""
    name = plain_text(text(entry.get("title")), NAME_MAX)
    if not name:
        raise Skip("it has no title")
    url, canonical = _entry_link(text(entry.get("link")).strip())
    guid = text(entry.get("id")).strip() or url
    if guid and len(guid) > LINK_MAX:
        raise Skip(f"its guid is longer than {LINK_MAX} characters")
    if guid and CONTROL.search(guid):
        raise Skip("its guid contains control characters")
    summary = _summary_html(entry)
    tags = entry.get("tags") or []
    if not category and tags:
        category = plain_text(text(tags[0].get("term")), CATEGORY_MAX) or None
    vendor = _our_field(entry, prefixes, "vendor") or text(entry.get("author"))
    return Launch(
        name=name,
        guid=guid or None,
        url=url,
        canonical_url=canonical,
        vendor=plain_text(vendor, VENDOR_MAX) or None,
        category=category,
        tagline=plain_text(summary, TAGLINE_MAX) or None,
        description=clean_html(summary) or None,
        entry_price=plain_text(_our_field(entry, prefixes, "price"), PRICE_MAX) or None,
        launched_on=_launch_date(entry, settings),
    )


def newest(entries: Sequence[Any], limit: int) -> list[int]:
    """The positions (from 0) of the ``limit`` newest entries, in the feed's
    order: newest by publication (else update) date, an undated entry
    counting as published now, as its launch date does; on a tie the earlier
    entry in the feed is kept."""
    if len(entries) <= limit:
        return list(range(len(entries)))
    now = process_now().timetuple()[:6]
    chosen = heapq.nlargest(limit, range(len(entries)), key=lambda i: _stamp(entries[i], now))
    return sorted(chosen)


def _stamp(entry: Any, undated: tuple[int, ...]) -> tuple[int, ...]:
    """The entry's date as (year, month, day, hour, minute, second), UTC."""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    try:
        return tuple(int(part) for part in stamp[:6])
    except (TypeError, ValueError):
        return undated


def _entry_link(link: str) -> tuple[str | None, str | None]:
    """An entry's web link and its canonical form; (None, None) when it has no
    http(s) link (a ``javascript:`` one is dropped, the entry kept). Raises
    ``Skip`` for a link that does not parse or does not fit its column."""
    if not link:
        return None, None
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError for a port like ":abc"
    except ValueError as error:
        raise Skip(f"its link is not a valid URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None, None
    if CONTROL.search(link):
        raise Skip("its link contains control characters")
    canonical = canonical_url(link)
    if max(len(link), len(canonical)) > LINK_MAX:
        raise Skip(f"its link is longer than {LINK_MAX} characters")
    return link, canonical


def our_prefixes(parsed: feedparser.FeedParserDict) -> tuple[str, ...]:
    """The entry-key prefixes of our namespace in this document.

    feedparser keys an element of a namespace it does not know by a prefix
    the document binds to it: ``<v:vendor>`` becomes ``v_vendor``. Which one
    depends on the parser (the element's own, lower-cased, when the feed is
    not well-formed; the first bound to the URI when it is), so every prefix
    bound to our URI is tried, and a ``verdict:`` prefix bound to another URI
    is not read. ``parsed.namespaces`` maps each prefix to its URI; the empty
    prefix is our URI as the default namespace (``<vendor xmlns="…">``).
    """
    namespaces = parsed.get("namespaces") or {}
    return tuple(
        sorted({(prefix or "").lower() for prefix, uri in namespaces.items() if uri == NAMESPACE})
    )


def _our_field(entry: Any, prefixes: Sequence[str], name: str) -> str:
    """The entry's ``name`` element in our namespace, under any prefix."""
    for prefix in prefixes:
        value = text(entry.get(f"{prefix}_{name}" if prefix else name))
        if value:
            return value
    return ""


def text(value: Any) -> str:
    """``value`` if feedparser gave a string; an element with attributes
    arrives as a dict of them, and is no text of ours."""
    return value if isinstance(value, str) else ""


def entry_place(position: int, entry: Any) -> str:
    """The entry, as a warning names it: its position and guid or link."""
    ident = text(entry.get("id")) or text(entry.get("link")) or text(entry.get("title"))
    return f"entry {position} ({label(ident)!r})" if ident.strip() else f"entry {position}"


def _summary_html(entry: Any) -> str:
    content = entry.get("content") or []
    if content and content[0].get("value"):
        return str(content[0]["value"])[:100_000]
    return str(entry.get("summary") or "")[:100_000]


def _launch_date(entry: Any, settings: Settings) -> dt.date:
    """The entry's publication date in the digest's zone; today without one."""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    try:
        moment = dt.datetime(*stamp[:6], tzinfo=dt.UTC) if stamp else process_now()
        return moment.astimezone(settings.timezone).date()
    except (TypeError, ValueError, OverflowError):  # a date no calendar has
        return process_now().astimezone(settings.timezone).date()


def canonical_url(url: str) -> str:
    """``url`` without what makes one page look like two: scheme and host
    case, default ports, fragments, tracking parameters, a trailing slash.
    Raises ValueError for a URL that does not parse (a port like ``:abc``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path or "/"
    if path != "/" and path.endswith("/"):
        path = path.rstrip("/")
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not TRACKING.match(k)
        )
    )
    return urlunsplit((scheme, host, path, query, ""))
