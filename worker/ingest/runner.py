"""Feeds (RSS/Atom) → launches in the store: ``ingest_feeds`` and its report.

Each feed owns its fetch state (ETag, Last-Modified). The HTTP status decides
what happens: 304 skips, 301/308 rewrite the feed's URL, 410 deactivates it,
other errors are recorded on the feed. Fetching is ``worker.ingest.fetch``,
parsing ``worker.ingest.parsing``; checking an entry is ``worker.ingest.launches``;
writing the launches, deduplicated by guid within the feed and by canonical
URL across feeds, is ``worker.ingest.writer``.

Up to ``FEED_CONCURRENCY`` feeds are fetched at once, each in a thread that
fetches, parses and turns the newest ``FEED_MAX_ENTRIES`` entries into
checked, sanitised launches without touching the store. The calling thread
writes each feed as its fetch ends, in short transactions, so a slow feed
holds up neither the others nor the store; the report keeps the feeds'
order.

A feed's fetch is recorded on it (status, validators, the fetch log) after
its launches are written. A failure halfway keeps the launches already
committed and not the new validators, so the next fetch is unconditional:
no 304 can hide entries that were never written, and dedupe stores only
the rest.

An entry that cannot be stored is skipped with a warning naming the feed and
the entry. One feed's failure never costs another feed anything: an
unexpected error in one is recorded as that feed's error.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, redact_url
from worker.errors import FeedError, driver_words
from worker.ingest.feeds import FeedSpec, feed_url_problem
from worker.ingest.fetch import fetch
from worker.ingest.launches import Launch, Skip, entry_place, launch, newest, our_prefixes, text
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
from worker.ingest.writer import write_launches
from worker.now import process_now
from worker.store.models import Feed, FetchLog

log = logging.getLogger("worker.ingest")


@dataclass
class FeedResult:
    """What one feed's ingest did. Each warning is one line naming the feed."""

    url: str
    status: str  # ok, not-modified, gone, error, inactive
    new: int = 0
    duplicates: int = 0
    skipped: int = 0  # entries that could not be stored; each has a warning
    left_out: int = 0  # entries past FEED_MAX_ENTRIES; one warning says how many
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


@dataclass(frozen=True)
class _State:
    """A feed's row as a fetch needs it."""

    feed_id: int
    etag: str | None
    modified: str | None
    category: str | None  # the feed's, else the feeds file's


@dataclass
class _Fetched:
    """What a fetch thread hands over to be written; the store untouched."""

    feed_id: int
    at: dt.datetime
    result: FeedResult
    status: int | None = None
    permanent_redirect: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    launches: list[Launch] = field(default_factory=list)
    error: FeedError | None = None


def ingest_feeds(
    sessions: sessionmaker[Session],
    feeds: Sequence[FeedSpec],
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Fetch every feed and store its new launches.

    Errors are per feed and recorded, never raised. The report's warnings
    name each skipped entry and each feed parsed with problems. Fetches are
    logged at ``now`` if given (the clock's run), else at each fetch's time.
    Once ``stop`` is set no further feed is started: the feeds being fetched
    are finished and written, and the report holds only the feeds started.
    """
    results: dict[int, FeedResult] = {}
    waiting = list(enumerate(feeds))[::-1]  # popped from the end: the given order
    running: dict[Future[_Fetched], int] = {}
    with ThreadPoolExecutor(settings.feed_concurrency, thread_name_prefix="feed") as pool:
        while waiting or running:
            while waiting and len(running) < settings.feed_concurrency:
                if stop is not None and stop.is_set():
                    waiting.clear()
                    break
                index, spec = waiting.pop()
                started = _start(sessions, pool, spec, settings, now)
                if isinstance(started, FeedResult):
                    results[index] = _logged(started)
                else:
                    running[started] = index
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                index = running.pop(future)
                results[index] = _logged(_finish(sessions, feeds[index], future, now))
    return IngestReport([results[index] for index in sorted(results)])


def _logged(result: FeedResult) -> FeedResult:
    """``result``, its warnings and outcome logged."""
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
                "left_out": result.left_out,
            },
        )
    return result


def _start(
    sessions: sessionmaker[Session],
    pool: ThreadPoolExecutor,
    spec: FeedSpec,
    settings: Settings,
    now: dt.datetime | None,
) -> Future[_Fetched] | FeedResult:
    """The feed's fetch, started in ``pool``; or its result, when there is
    nothing to fetch (a bad URL, an inactive feed) or its row failed."""
    problem = feed_url_problem(spec.url)
    if problem:
        where = label(redact_url(spec.url))
        return FeedResult(spec.url, "error", error=f"{where}: the feed URL {problem}")
    try:
        state = _fetch_state(sessions, spec)
    except Exception as error:  # one feed's failure must not cost the others
        return _failed(sessions, spec, error, now)
    if state is None:
        return FeedResult(spec.url, "inactive")
    return pool.submit(_fetch, spec, state, settings, now)


def _finish(
    sessions: sessionmaker[Session],
    spec: FeedSpec,
    future: Future[_Fetched],
    now: dt.datetime | None,
) -> FeedResult:
    """One fetched feed written; an error nobody foresaw, in the fetch or
    the writing, becomes that feed's error."""
    try:
        return _write(sessions, future.result())
    except Exception as error:  # one feed's failure must not cost the others
        return _failed(sessions, spec, error, now)


def _failed(
    sessions: sessionmaker[Session], spec: FeedSpec, error: Exception, now: dt.datetime | None
) -> FeedResult:
    """An unforeseen error, recorded as the feed's error.

    Each write is a transaction of its own session, so a failed statement
    was rolled back with its session and cannot leave the next feed in an
    aborted PostgreSQL transaction.
    """
    log.debug("feed %s failed", redact_url(spec.url), exc_info=error)
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


def _fetch_state(sessions: sessionmaker[Session], spec: FeedSpec) -> _State | None:
    """What fetching the feed needs to know, or None for an inactive feed;
    its row is made on its first ingest."""
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
        if not feed.active:
            return None
        category = feed.category or _fit(spec.category, CATEGORY_MAX)
        return _State(feed.id, feed.etag, feed.last_modified, category)


def _fetch(spec: FeedSpec, state: _State, settings: Settings, at: dt.datetime | None) -> _Fetched:
    """The feed fetched, parsed and made into launches; in a thread of the
    pool, so it never touches the store."""
    fetched = _Fetched(state.feed_id, at or process_now(), FeedResult(spec.url, "ok"))
    try:
        response = fetch(spec.url, state.etag, state.modified, settings)
        fetched.status = response.status
        fetched.permanent_redirect = response.permanent_redirect
        if response.status == 304:
            fetched.result.status = "not-modified"
            return fetched
        parsed = parse(spec.url, response)
    except FeedError as error:
        fetched.error = error
        return fetched
    # A validator too long for its column is not kept: the next fetch is
    # then unconditional, which costs a download and loses nothing.
    fetched.etag = _validator(response.headers.get("etag"), ETAG_MAX)
    fetched.last_modified = _validator(response.headers.get("last-modified"), LAST_MODIFIED_MAX)
    fetched.title = plain_text(text(parsed.feed.get("title")), TITLE_MAX) or None
    fetched.result.warnings = warnings(spec.url, parsed)
    fetched.launches = _launches(spec, parsed, state.category, settings, fetched.result)
    return fetched


def _launches(
    spec: FeedSpec, parsed: Any, category: str | None, settings: Settings, result: FeedResult
) -> list[Launch]:
    """The launches of the newest ``FEED_MAX_ENTRIES`` entries; ``result``
    counts (and warns of) the entries left out and skipped."""
    entries = parsed.entries
    kept = newest(entries, settings.feed_max_entries)
    result.left_out = len(entries) - len(kept)
    shown = redact_url(spec.url)
    if result.left_out:
        result.warnings.append(
            f"{shown}: {result.left_out} of {len(entries)} entries left out: "
            f"FEED_MAX_ENTRIES keeps the {settings.feed_max_entries} newest"
        )
    prefixes = our_prefixes(parsed)
    launches: list[Launch] = []
    for index in kept:
        entry = entries[index]
        try:
            launches.append(launch(entry, prefixes, category, settings))
        except Skip as skip:
            result.skipped += 1
            result.warnings.append(f"{shown}: {entry_place(index + 1, entry)} skipped: {skip}")
    return launches


def _write(sessions: sessionmaker[Session], fetched: _Fetched) -> FeedResult:
    """A fetched feed's launches written, then its fetch recorded on it."""
    result = fetched.result
    if fetched.error is not None:
        return _record_fetch_error(sessions, fetched, fetched.error)
    if fetched.status != 304:
        written = write_launches(sessions, fetched.feed_id, fetched.launches)
        result.new, result.duplicates = written.new, written.duplicates
    with sessions.begin() as session:
        feed = session.get_one(Feed, fetched.feed_id)
        feed.last_fetched_at = fetched.at
        feed.last_status = fetched.status
        feed.last_error = None
        feed.error_count = 0
        moved = fetched.permanent_redirect
        if moved and not session.scalar(select(Feed.id).where(Feed.url == moved)):
            feed.url = moved
        if fetched.status != 304:
            feed.etag, feed.last_modified = fetched.etag, fetched.last_modified
            feed.title = feed.title or fetched.title
        _log_fetch(session, feed.id, fetched.at, fetched.status, new=result.new)
    return result


def _record_fetch_error(
    sessions: sessionmaker[Session], fetched: _Fetched, error: FeedError
) -> FeedResult:
    """A failed fetch recorded on the feed; a feed that is gone (410) is
    deactivated."""
    url = fetched.result.url
    status = getattr(error, "status", None)
    with sessions.begin() as session:
        feed = session.get_one(Feed, fetched.feed_id)
        feed.last_fetched_at = fetched.at
        feed.last_error = error.reason
        feed.error_count += 1
        feed.last_status = status
        _log_fetch(session, feed.id, fetched.at, status, error=error.reason)
        if status == 410:
            feed.active = False
            return FeedResult(url, "gone", error=error.reason)
    return FeedResult(url, "error", error=f"{redact_url(error.url)}: {error.reason}")


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
