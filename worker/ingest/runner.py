"""Feeds (RSS/Atom) → launches in the store: ``ingest_feeds`` and its report.

Each feed owns its fetch state (ETag, Last-Modified). The HTTP status decides
what happens: 304 skips, 301/308 rewrite the feed's URL, 410 deactivates it,
other errors are recorded on the feed. Entries are deduplicated by guid, then
by canonical URL. Fetching is ``worker.ingest.fetch``, parsing
``worker.ingest.parsing``; checking an entry is ``worker.ingest.launches``.

An entry that cannot be stored is skipped with a warning naming the feed and
the entry. One feed's failure never costs another feed anything: each feed is
its own transaction, and an unexpected error in one is recorded as that
feed's error.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, redact_url
from worker.errors import FeedError, driver_words
from worker.ingest.feeds import FeedSpec, feed_url_problem
from worker.ingest.fetch import fetch
from worker.ingest.launches import Skip, entry_place, launch, our_prefixes, text
from worker.ingest.lengths import (
    CATEGORY_MAX,
    CONTROL,
    ETAG_MAX,
    LAST_MODIFIED_MAX,
    TITLE_MAX,
    label,
)
from worker.ingest.parsing import parse, warnings
from worker.ingest.sanitise import plain_text
from worker.now import process_now
from worker.store.models import Feed, FetchLog, Tool

log = logging.getLogger("worker.ingest")


@dataclass
class FeedResult:
    """What one feed's ingest did. Each warning is one line naming the feed."""

    url: str
    status: str  # ok, not-modified, gone, error, inactive
    new: int = 0
    duplicates: int = 0
    skipped: int = 0  # entries that could not be stored; each has a warning
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """The results of one run, one per feed, in the order given."""

    feeds: list[FeedResult] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.feeds)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.feeds if f.status == "error")

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.feeds)

    @property
    def warnings(self) -> list[str]:
        """Every feed's warnings (skipped entries, parse problems), in order."""
        return [warning for f in self.feeds for warning in f.warnings]


def ingest_feeds(
    sessions: sessionmaker[Session],
    feeds: Sequence[FeedSpec],
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> IngestReport:
    """Fetch every feed and store its new launches.

    Errors are per feed and recorded, never raised. The report's warnings
    name each skipped entry and each feed parsed with problems. Fetches are
    logged at ``now`` if given (the clock's run), else at each fetch's time.
    """
    report = IngestReport()
    for spec in feeds:
        result = _ingest_guarded(sessions, spec, settings, now)
        report.feeds.append(result)
        feed = redact_url(result.url)
        for warning in result.warnings:
            log.warning("feed warning", extra={"feed": feed, "detail": warning})
        if result.status == "error":
            log.warning("feed failed", extra={"feed": feed, "error": result.error})
        else:
            log.info(
                "feed ingested",
                extra={
                    "feed": feed,
                    "result": result.status,
                    "new": result.new,
                    "duplicates": result.duplicates,
                    "skipped": result.skipped,
                },
            )
    return report


def _ingest_guarded(
    sessions: sessionmaker[Session], spec: FeedSpec, settings: Settings, now: dt.datetime | None
) -> FeedResult:
    """One feed's ingest; an error nobody foresaw becomes that feed's error.

    Each step of ``_ingest_one`` is a transaction of its own session, so a
    failed statement is rolled back with its session and cannot leave the
    next feed in an aborted PostgreSQL transaction.
    """
    try:
        return _ingest_one(sessions, spec, settings, now)
    except Exception as error:  # one feed's failure must not cost the others
        log.debug("feed %s failed", redact_url(spec.url), exc_info=True)
        reason = f"unexpected error: {driver_words(error)}"
        _record_failure(sessions, spec.url, reason, now)
        return FeedResult(spec.url, "error", error=f"{redact_url(spec.url)}: {reason}")


def _record_failure(
    sessions: sessionmaker[Session], url: str, reason: str, now: dt.datetime | None
) -> None:
    """Record ``reason`` as the feed's last error, in a fresh transaction."""
    try:
        with sessions.begin() as session:
            feed = session.scalars(select(Feed).where(Feed.url == url)).one_or_none()
            if feed is None:  # the failure came before the feed had a row
                return
            feed.last_fetched_at = now or process_now()
            feed.last_error = reason
            feed.error_count += 1
            _log_fetch(session, feed.id, feed.last_fetched_at, None, error=reason)
    except Exception:  # the store itself is failing; the report still tells
        log.debug("could not record the error of feed %s", redact_url(url), exc_info=True)


def _ingest_one(
    sessions: sessionmaker[Session], spec: FeedSpec, settings: Settings, at: dt.datetime | None
) -> FeedResult:
    """One feed fetched and its new launches stored; what the fetch said is
    recorded on the feed."""
    problem = feed_url_problem(spec.url)
    if problem:
        where = label(redact_url(spec.url))
        return FeedResult(spec.url, "error", error=f"{where}: the feed URL {problem}")
    feed_id, etag, modified, active = _fetch_state(sessions, spec)
    if not active:
        return FeedResult(spec.url, "inactive")
    now = at or process_now()
    try:
        response = fetch(spec.url, etag, modified, settings)
        parsed = parse(spec.url, response) if response.status == 200 else None
    except FeedError as error:
        return _record_fetch_error(sessions, spec, feed_id, now, error)
    with sessions.begin() as session:
        feed = session.get_one(Feed, feed_id)
        feed.last_fetched_at = now
        feed.last_status = response.status
        feed.last_error = None
        feed.error_count = 0
        if response.permanent_redirect and not session.scalar(
            select(Feed.id).where(Feed.url == response.permanent_redirect)
        ):
            feed.url = response.permanent_redirect
        if response.status == 304:
            _log_fetch(session, feed_id, now, 304)
            return FeedResult(spec.url, "not-modified")
        # A validator too long for its column is not kept: the next fetch is
        # then unconditional, which costs a download and loses nothing.
        feed.etag = _validator(response.headers.get("etag"), ETAG_MAX)
        feed.last_modified = _validator(response.headers.get("last-modified"), LAST_MODIFIED_MAX)
        assert parsed is not None
        if not feed.title:
            feed.title = plain_text(text(parsed.feed.get("title")), TITLE_MAX) or None
        result = FeedResult(spec.url, "ok", warnings=warnings(spec.url, parsed))
        _store_entries(session, feed, parsed.entries, our_prefixes(parsed), spec, settings, result)
        _log_fetch(session, feed_id, now, response.status, new=result.new)
        return result


def _fetch_state(
    sessions: sessionmaker[Session], spec: FeedSpec
) -> tuple[int, str | None, str | None, bool]:
    """The feed's id, ETag, Last-Modified and whether it is active; its row
    is made on its first ingest."""
    with sessions.begin() as session:
        feed = session.scalars(select(Feed).where(Feed.url == spec.url)).one_or_none()
        if feed is None:
            feed = Feed(
                url=spec.url,
                title=_fit(spec.title, TITLE_MAX),
                category=_fit(spec.category, CATEGORY_MAX),
            )
            session.add(feed)
            session.flush()
        return feed.id, feed.etag, feed.last_modified, feed.active


def _record_fetch_error(
    sessions: sessionmaker[Session],
    spec: FeedSpec,
    feed_id: int,
    now: dt.datetime,
    error: FeedError,
) -> FeedResult:
    """A failed fetch recorded on the feed; a feed that is gone (410) is
    deactivated."""
    with sessions.begin() as session:
        feed = session.get_one(Feed, feed_id)
        feed.last_fetched_at = now
        feed.last_error = error.reason
        feed.error_count += 1
        feed.last_status = getattr(error, "status", None)
        _log_fetch(session, feed_id, now, feed.last_status, error=error.reason)
        if getattr(error, "status", None) == 410:
            feed.active = False
            return FeedResult(spec.url, "gone", error=error.reason)
    return FeedResult(spec.url, "error", error=f"{redact_url(error.url)}: {error.reason}")


def _log_fetch(
    session: Session,
    feed_id: int,
    at: dt.datetime,
    status: int | None,
    *,
    new: int = 0,
    error: str | None = None,
) -> None:
    """One row of the log of fetches, in the transaction that records the
    fetch on the feed (pruned after FETCH_LOG_DAYS)."""
    session.add(
        FetchLog(feed_id=feed_id, fetched_at=at, status=status, new_launches=new, error=error)
    )


def _validator(value: str | None, limit: int) -> str | None:
    """An ETag or Last-Modified value worth keeping for the next fetch."""
    if not value or len(value) > limit or CONTROL.search(value):
        return None
    return value


def _fit(value: str | None, limit: int) -> str | None:
    """Text given by whoever lists the feeds, as one line that fits its column."""
    return plain_text(value, limit) or None if value else None


def _store_entries(
    session: Session,
    feed: Feed,
    entries: Sequence[Any],
    prefixes: Sequence[str],
    spec: FeedSpec,
    settings: Settings,
    result: FeedResult,
) -> None:
    category = feed.category or _fit(spec.category, CATEGORY_MAX)
    seen_guids: set[str] = set()
    seen_urls: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        try:
            candidate = launch(entry, prefixes, category, settings)
        except Skip as skip:
            result.skipped += 1
            where = f"{redact_url(spec.url)}: {entry_place(position, entry)}"
            result.warnings.append(f"{where} skipped: {skip}")
            continue
        guid, canonical = candidate.guid, candidate.canonical_url
        if (guid and guid in seen_guids) or (canonical and canonical in seen_urls):
            result.duplicates += 1
            continue
        if _is_stored(session, guid, canonical):
            result.duplicates += 1
            continue
        if guid:
            seen_guids.add(guid)
        if canonical:
            seen_urls.add(canonical)
        session.add(
            Tool(slug=_unique_slug(session, candidate.name), feed_id=feed.id, **asdict(candidate))
        )
        session.flush()  # the next entry's slug and dedupe checks see this one
        result.new += 1


def _is_stored(session: Session, guid: str | None, canonical: str | None) -> bool:
    """True when a tool with this guid, or else this canonical URL, exists."""
    if guid and session.scalar(select(Tool.id).where(Tool.guid == guid)) is not None:
        return True
    return bool(
        canonical
        and session.scalar(select(Tool.id).where(Tool.canonical_url == canonical)) is not None
    )


def _unique_slug(session: Session, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:180] or "tool"
    slug, n = base, 1
    while session.scalar(select(Tool.id).where(Tool.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug
