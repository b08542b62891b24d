"""A feed's launches into the store: short transactions, set-based queries.

The launches arrive checked and sanitised; nothing slow is left for the
store's time. They are written ``CHUNK`` at a time, each chunk a
transaction of its own, so that on SQLite the write lock is held for one
chunk's INSERT and never for a whole feed: a reader's unsubscribe waiting
on it gets in between two chunks.

Each chunk asks the store which of its guids this feed has stored and
which of its canonical URLs any feed has stored, one query each. An entry
is a duplicate when either key is stored (a guid within its feed only, so
that no feed can take another's entries over; a canonical URL across feeds,
the earlier feed's tool kept as it is). Slugs are ``base``, ``base-2``,
``base-3``…, numbered from a counter per base that lives as long as the
feed's write, and the store is asked about the exact slugs about to be
given, one query per chunk unless some are taken: N entries of one title
cost O(N), not a query per number tried. Exact lookups use the slug's
unique index on both stores, where ``LIKE 'base-%'`` could not (SQLite's
LIKE ignores case, and PostgreSQL's index follows the database's collation)
and would scan the table once per title.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from worker.ingest.launches import Launch
from worker.store.models import Tool

# Entries per transaction: few enough that a chunk's INSERT holds SQLite's
# write lock for milliseconds (bench/ingest.py), many enough that a
# 20,000-entry feed is 80 transactions, not 20,000.
CHUNK = 250
# Slugs asked about in one query, at most: far below either store's limit
# of bound parameters (SQLite 32,766, PostgreSQL 65,535).
WINDOW_MAX = 1_000
SLUG_BASE_MAX = 180  # the slug column holds 200: room for "-" and a number


@dataclass
class Written:
    """What writing a feed's launches did."""

    new: int = 0
    duplicates: int = 0


@dataclass
class _Seen:
    """What the chunks written so far hold, for the next chunk."""

    guids: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)
    next_number: dict[str, int] = field(default_factory=dict)  # slug base → next to try


def write_launches(
    sessions: sessionmaker[Session], feed_id: int, launches: Sequence[Launch]
) -> Written:
    """Store the launches of feed ``feed_id`` that are not stored yet.

    A failure raises after the chunks before it were committed; writing the
    same launches again stores only the rest (every stored one is then a
    duplicate).
    """
    written = Written()
    seen = _Seen()
    for start in range(0, len(launches), CHUNK):
        chunk = launches[start : start + CHUNK]
        with sessions.begin() as session:
            fresh = _fresh(session, feed_id, chunk, seen)
            if fresh:
                slugs = _slugs(session, [each.name for each in fresh], seen.next_number)
                session.execute(
                    insert(Tool),
                    [
                        {"slug": slug, "feed_id": feed_id, **asdict(each)}
                        for slug, each in zip(slugs, fresh, strict=True)
                    ],
                )
        written.new += len(fresh)
        written.duplicates += len(chunk) - len(fresh)
    return written


def _fresh(session: Session, feed_id: int, chunk: Sequence[Launch], seen: _Seen) -> list[Launch]:
    """The launches of ``chunk`` that are neither stored nor earlier in the
    feed; ``seen`` learns their keys."""
    guids = [each.guid for each in chunk if each.guid]
    urls = [each.canonical_url for each in chunk if each.canonical_url]
    stored_guids = set(
        session.scalars(select(Tool.guid).where(Tool.feed_id == feed_id, Tool.guid.in_(guids)))
    )
    stored_urls = set(
        session.scalars(select(Tool.canonical_url).where(Tool.canonical_url.in_(urls)))
    )
    fresh: list[Launch] = []
    for each in chunk:
        guid, url = each.guid, each.canonical_url
        if guid and (guid in seen.guids or guid in stored_guids):
            continue
        if url and (url in seen.urls or url in stored_urls):
            continue
        if guid:
            seen.guids.add(guid)
        if url:
            seen.urls.add(url)
        fresh.append(each)
    return fresh


def _slugs(session: Session, names: Sequence[str], next_number: dict[str, int]) -> list[str]:
    """A slug no tool has for each of ``names``, in order.

    Each round asks the store which of the next numbers of each base still
    short of slugs are taken; a base whose numbers were all taken asks for
    twice as many in the next round, so a long run of taken numbers costs
    few rounds.
    """
    bases = [slug_base(name) for name in names]
    found: dict[str, list[str]] = {base: [] for base in bases}
    short = Counter(bases)  # slugs still to find, per base
    window = dict(short)  # numbers to try, per base, this round
    given: set[str] = set()  # "tool-2" is both the second "Tool" and the first "Tool 2"
    while short:
        tried = {base: _numbered(base, next_number.get(base, 1), window[base]) for base in short}
        taken = _existing(session, [slug for numbered in tried.values() for _, slug in numbered])
        for base, numbered in tried.items():
            for number, slug in numbered:
                if not short[base]:
                    break
                next_number[base] = number + 1
                if slug not in taken and slug not in given:
                    given.add(slug)
                    found[base].append(slug)
                    short[base] -= 1
            window[base] = min(2 * window[base], WINDOW_MAX)
        short = +short  # drops the bases that have their slugs
    picks = {base: iter(slugs) for base, slugs in found.items()}
    return [next(picks[base]) for base in bases]


def _numbered(base: str, first: int, count: int) -> list[tuple[int, str]]:
    """``base``'s slugs numbered ``first`` on; number 1 is the base itself."""
    return [
        (number, base if number == 1 else f"{base}-{number}")
        for number in range(first, first + count)
    ]


def _existing(session: Session, slugs: Sequence[str]) -> set[str]:
    """Those of ``slugs`` that a tool has: exact lookups in the slug's
    unique index, ``WINDOW_MAX`` at a time."""
    return {
        slug
        for start in range(0, len(slugs), WINDOW_MAX)
        for slug in session.scalars(
            select(Tool.slug).where(Tool.slug.in_(slugs[start : start + WINDOW_MAX]))
        )
    }


def slug_base(name: str) -> str:
    """A tool's name as a slug: lower-case ASCII letters, digits and dashes."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return base[:SLUG_BASE_MAX].rstrip("-") or "tool"
