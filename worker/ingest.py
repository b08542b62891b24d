"""Feeds (RSS/Atom) → launches in the store.

Each feed owns its fetch state (ETag, Last-Modified). The HTTP status decides
what happens: 304 skips, 301/308 rewrite the feed's URL, 410 deactivates it,
other errors are recorded on the feed. feedparser's ``bozo`` problems are
warnings unless the feed yields no entries and no version. Entries are
deduplicated by guid, then by canonical URL, and their HTML is sanitised
before it is stored.

Every entry is checked before it reaches the database: one that cannot be
stored (no title, a link that does not parse or does not fit its column) is
skipped with a warning naming the feed and the entry; free text too long for
its column is cut. One feed's failure never costs another feed anything: each
feed is its own transaction, and an unexpected error in one is recorded as
that feed's error.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
import yaml
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.errors import FeedError, InputError
from worker.sanitise import clean_html, is_web_url, plain_text
from worker.store.models import Base, Feed, Tool

log = logging.getLogger("worker.ingest")

CHUNK = 64 * 1024
TRACKING = re.compile(r"^(utm_.*|ref|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)
# Entries carry the tool's vendor and price in this namespace, under whatever
# prefix the feed binds it to.
NAMESPACE = "https://verdicts.example/ns/1"
# C0 and C1 controls: no link or guid has them, and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _length(model: type[Base], column: str) -> int:
    """A String column's declared length, so the limits here follow the models."""
    return int(model.__table__.c[column].type.length)


FEED_URL_MAX = _length(Feed, "url")
ETAG_MAX = _length(Feed, "etag")
LAST_MODIFIED_MAX = _length(Feed, "last_modified")
LINK_MAX = min(_length(Tool, "url"), _length(Tool, "guid"), _length(Tool, "canonical_url"))
NAME_MAX = _length(Tool, "name")
VENDOR_MAX = _length(Tool, "vendor")
CATEGORY_MAX = min(_length(Tool, "category"), _length(Feed, "category"))
TITLE_MAX = _length(Feed, "title")
PRICE_MAX = _length(Tool, "entry_price")
# Shorter than the column: a tagline is one line under the name in the email.
TAGLINE_MAX = min(200, _length(Tool, "tagline"))
LABEL_MAX = 80  # how much of an entry's guid or link a warning quotes


@dataclass(frozen=True)
class FeedSpec:
    """A feed as the feeds file lists it."""

    url: str
    category: str | None = None
    title: str | None = None


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


def load_feeds_file(path: Path) -> list[FeedSpec]:
    """The feeds listed in a TOML (``[[feed]]``) or YAML (``feeds:``) file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(str(path), [f"cannot read the feeds file: {error.strerror}"]) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(raw) or {}
            entries = data.get("feeds", data.get("feed")) if isinstance(data, dict) else data
        else:
            entries = tomllib.loads(raw).get("feed", [])
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise InputError(
            str(path), [f"not valid {path.suffix.lstrip('.') or 'TOML'}: {error}"]
        ) from None
    if not isinstance(entries, list):
        raise InputError(str(path), ["expected a list of feeds ([[feed]] in TOML, feeds: in YAML)"])
    specs: list[FeedSpec] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        place = f"feed[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            problems.append(f"{place}: needs a url")
            continue
        problem = _feed_url_problem(entry["url"].strip())
        if problem:
            problems.append(f"{place}.url: {_label(entry['url'])!r} {problem}")
            continue
        category, title = entry.get("category"), entry.get("title")
        specs.append(
            FeedSpec(
                url=entry["url"].strip(),
                category=plain_text(str(category), 100) or None if category else None,
                title=plain_text(str(title), 300) or None if title else None,
            )
        )
    if problems:
        raise InputError(str(path), problems)
    return specs


def ingest_feeds(
    sessions: sessionmaker[Session], feeds: Sequence[FeedSpec], settings: Settings
) -> IngestReport:
    """Fetch every feed and store its new launches.

    Errors are per feed and recorded, never raised. The report's warnings
    name each skipped entry and each feed parsed with problems.
    """
    report = IngestReport()
    for spec in feeds:
        result = _ingest_guarded(sessions, spec, settings)
        report.feeds.append(result)
        for warning in result.warnings:
            log.warning("%s", warning)
        if result.status == "error":
            log.warning("feed %s: %s", result.url, result.error)
        else:
            log.info(
                "feed %s: %s, %d new, %d duplicates, %d skipped",
                result.url,
                result.status,
                result.new,
                result.duplicates,
                result.skipped,
            )
    return report


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]
    final_url: str
    permanent_redirect: str | None


def _ingest_guarded(
    sessions: sessionmaker[Session], spec: FeedSpec, settings: Settings
) -> FeedResult:
    """One feed's ingest; an error nobody foresaw becomes that feed's error.

    Each step of ``_ingest_one`` is a transaction of its own session, so a
    failed statement is rolled back with its session and cannot leave the
    next feed in an aborted PostgreSQL transaction.
    """
    try:
        return _ingest_one(sessions, spec, settings)
    except Exception as error:  # one feed's failure must not cost the others
        log.debug("feed %s failed", spec.url, exc_info=True)
        reason = f"unexpected error: {_describe(error)}"
        _record_failure(sessions, spec.url, reason)
        return FeedResult(spec.url, "error", error=f"{spec.url}: {reason}")


def _describe(error: Exception) -> str:
    """One short line about ``error``. For a database error the message is the
    driver's: SQLAlchemy's own carries the statement and its parameters."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig else error
    lines = str(cause).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    text = _CONTROL.sub(" ", text)  # the message may quote the feed
    return text if len(text) <= 300 else text[:299] + "…"


def _record_failure(sessions: sessionmaker[Session], url: str, reason: str) -> None:
    """Record ``reason`` as the feed's last error, in a fresh transaction."""
    try:
        with sessions.begin() as session:
            feed = session.scalars(select(Feed).where(Feed.url == url)).one_or_none()
            if feed is None:  # the failure came before the feed had a row
                return
            feed.last_fetched_at = dt.datetime.now(dt.UTC)
            feed.last_error = reason
            feed.error_count += 1
    except Exception:  # the store itself is failing; the report still tells
        log.debug("could not record the error of feed %s", url, exc_info=True)


def _ingest_one(sessions: sessionmaker[Session], spec: FeedSpec, settings: Settings) -> FeedResult:
    problem = _feed_url_problem(spec.url)
    if problem:
        return FeedResult(spec.url, "error", error=f"{_label(spec.url)}: the feed URL {problem}")
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
        feed_id, etag, modified, active = feed.id, feed.etag, feed.last_modified, feed.active
    if not active:
        return FeedResult(spec.url, "inactive")
    now = dt.datetime.now(dt.UTC)
    try:
        response = _fetch(spec.url, etag, modified, settings)
        parsed = _parse(spec.url, response) if response.status == 200 else None
    except FeedError as error:
        with sessions.begin() as session:
            feed = session.get_one(Feed, feed_id)
            feed.last_fetched_at = now
            feed.last_error = error.reason
            feed.error_count += 1
            feed.last_status = getattr(error, "status", None)
            if getattr(error, "status", None) == 410:
                feed.active = False
                return FeedResult(spec.url, "gone", error=error.reason)
        return FeedResult(spec.url, "error", error=str(error))
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
            return FeedResult(spec.url, "not-modified")
        # A validator too long for its column is not kept: the next fetch is
        # then unconditional, which costs a download and loses nothing.
        feed.etag = _validator(response.headers.get("etag"), ETAG_MAX)
        feed.last_modified = _validator(response.headers.get("last-modified"), LAST_MODIFIED_MAX)
        assert parsed is not None
        if not feed.title:
            feed.title = plain_text(_text(parsed.feed.get("title")), TITLE_MAX) or None
        result = FeedResult(spec.url, "ok", warnings=_warnings(spec.url, parsed))
        _store_entries(session, feed, parsed.entries, _our_prefixes(parsed), spec, settings, result)
        return result


def _feed_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched and stored as a feed's URL, or None."""
    if not is_web_url(url):
        return "is not an http(s) URL"
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port like ":abc"
    except ValueError:
        return "is not a valid URL (bad port)"
    if len(url) > FEED_URL_MAX:
        return f"is longer than {FEED_URL_MAX} characters"
    return None


def _validator(value: str | None, limit: int) -> str | None:
    """An ETag or Last-Modified value worth keeping for the next fetch."""
    if not value or len(value) > limit or _CONTROL.search(value):
        return None
    return value


def _fit(value: str | None, limit: int) -> str | None:
    """Text given by whoever lists the feeds, as one line that fits its column."""
    return plain_text(value, limit) or None if value else None


class _FetchError(FeedError):
    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(url, reason)
        self.status = status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects by hand, to tell permanent ones (which move the feed)
    from temporary ones."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _fetch(url: str, etag: str | None, modified: str | None, settings: Settings) -> _Response:
    headers = {
        "User-Agent": f"verdict-digest/0.1 (+{settings.site_url})",
        "Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5",
    }
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    deadline = time.monotonic() + settings.feed_timeout
    permanent: str | None = None
    all_permanent = True
    current = url
    for _ in range(5):
        request = urllib.request.Request(current, headers=headers)
        try:
            with _OPENER.open(request, timeout=settings.feed_timeout) as response:
                body = _read_capped(url, response, settings.feed_max_bytes, deadline)
                return _Response(
                    response.status,
                    body,
                    {k.lower(): v for k, v in response.headers.items()},
                    current,
                    permanent,
                )
        except urllib.error.HTTPError as error:
            status = error.code
            if status == 304:
                return _Response(304, b"", {}, current, permanent)
            location = (
                error.headers.get("Location") if status in (301, 302, 303, 307, 308) else None
            )
            if location:
                target = urljoin(current, location)
                problem = _feed_url_problem(target)
                if problem:
                    raise _FetchError(
                        url, f"redirected to {_label(target)!r}, which {problem}"
                    ) from None
                # The feed moves only when every hop so far was permanent.
                all_permanent = all_permanent and status in (301, 308)
                permanent = target if all_permanent else None
                current = target
                continue
            reason = (
                "gone (410): the feed is deactivated"
                if status == 410
                else f"HTTP {status} {error.reason}"
            )
            raise _FetchError(url, reason, status) from None
        except TimeoutError:
            raise _FetchError(url, f"timed out after {settings.feed_timeout:g} s") from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise _FetchError(url, f"timed out after {settings.feed_timeout:g} s") from None
            raise _FetchError(url, f"unreachable: {reason}") from None
        except OSError as error:
            raise _FetchError(url, f"unreachable: {error}") from None
    raise _FetchError(url, "too many redirects")


def _read_capped(url: str, response: Any, limit: int, deadline: float) -> bytes:
    """The body, refusing past ``limit`` bytes or past the deadline (a server
    that trickles bytes forever must not hold the ingest)."""
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise _FetchError(url, f"feed larger than {limit} bytes ({length} announced)")
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise _FetchError(url, f"feed larger than {limit} bytes")
        if time.monotonic() > deadline:
            raise _FetchError(url, "timed out while reading the feed")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(url: str, response: _Response) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(
        response.body,
        response_headers=response.headers,
        sanitize_html=False,  # nh3 sanitises, with our own allow-list
        resolve_relative_uris=True,
    )
    if parsed.bozo and not parsed.entries and not parsed.version:
        problem = parsed.get("bozo_exception")
        raise _FetchError(url, f"not a feed: {problem}" if problem else "not a feed")
    return parsed


def _warnings(url: str, parsed: feedparser.FeedParserDict) -> list[str]:
    if parsed.bozo and parsed.get("bozo_exception") is not None:
        return [f"{url}: parsed with problems: {parsed.bozo_exception}"]
    return []


def _our_prefixes(parsed: feedparser.FeedParserDict) -> tuple[str, ...]:
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


class _Skip(Exception):
    """An entry that cannot be stored; the message says why."""


@dataclass(frozen=True)
class _Launch:
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
            launch = _launch(entry, prefixes, category, settings)
        except _Skip as skip:
            result.skipped += 1
            result.warnings.append(f"{spec.url}: {_entry_place(position, entry)} skipped: {skip}")
            continue
        guid, canonical = launch.guid, launch.canonical_url
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
            Tool(slug=_unique_slug(session, launch.name), feed_id=feed.id, **asdict(launch))
        )
        session.flush()  # the next entry's slug and dedupe checks see this one
        result.new += 1


def _launch(
    entry: Any, prefixes: Sequence[str], category: str | None, settings: Settings
) -> _Launch:
    """The launch an entry describes; raises ``_Skip`` when it cannot be stored."""
    name = plain_text(_text(entry.get("title")), NAME_MAX)
    if not name:
        raise _Skip("it has no title")
    url, canonical = _entry_link(_text(entry.get("link")).strip())
    guid = _text(entry.get("id")).strip() or url
    if guid and len(guid) > LINK_MAX:
        raise _Skip(f"its guid is longer than {LINK_MAX} characters")
    if guid and _CONTROL.search(guid):
        raise _Skip("its guid contains control characters")
    summary = _summary_html(entry)
    tags = entry.get("tags") or []
    if not category and tags:
        category = plain_text(_text(tags[0].get("term")), CATEGORY_MAX) or None
    vendor = _our_field(entry, prefixes, "vendor") or _text(entry.get("author"))
    return _Launch(
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


def _entry_link(link: str) -> tuple[str | None, str | None]:
    """An entry's web link and its canonical form; (None, None) when it has no
    http(s) link (a ``javascript:`` one is dropped, the entry kept). Raises
    ``_Skip`` for a link that does not parse or does not fit its column."""
    if not link:
        return None, None
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError for a port like ":abc"
    except ValueError as error:
        raise _Skip(f"its link is not a valid URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None, None
    if _CONTROL.search(link):
        raise _Skip("its link contains control characters")
    canonical = canonical_url(link)
    if max(len(link), len(canonical)) > LINK_MAX:
        raise _Skip(f"its link is longer than {LINK_MAX} characters")
    return link, canonical


def _is_stored(session: Session, guid: str | None, canonical: str | None) -> bool:
    """True when a tool with this guid, or else this canonical URL, exists."""
    if guid and session.scalar(select(Tool.id).where(Tool.guid == guid)) is not None:
        return True
    return bool(
        canonical
        and session.scalar(select(Tool.id).where(Tool.canonical_url == canonical)) is not None
    )


def _our_field(entry: Any, prefixes: Sequence[str], name: str) -> str:
    """The entry's ``name`` element in our namespace, under any prefix."""
    for prefix in prefixes:
        value = _text(entry.get(f"{prefix}_{name}" if prefix else name))
        if value:
            return value
    return ""


def _text(value: Any) -> str:
    """``value`` if feedparser gave a string; an element with attributes
    arrives as a dict of them, and is no text of ours."""
    return value if isinstance(value, str) else ""


def _entry_place(position: int, entry: Any) -> str:
    """The entry, as a warning names it: its position and guid or link."""
    ident = _text(entry.get("id")) or _text(entry.get("link")) or _text(entry.get("title"))
    return f"entry {position} ({_label(ident)!r})" if ident.strip() else f"entry {position}"


def _label(text: str) -> str:
    """Untrusted ``text`` cut short, on one line, to quote in a message."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _summary_html(entry: Any) -> str:
    content = entry.get("content") or []
    if content and content[0].get("value"):
        return str(content[0]["value"])[:100_000]
    return str(entry.get("summary") or "")[:100_000]


def _launch_date(entry: Any, settings: Settings) -> dt.date:
    """The entry's publication date in the digest's zone; today without one."""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    try:
        moment = dt.datetime(*stamp[:6], tzinfo=dt.UTC) if stamp else dt.datetime.now(dt.UTC)
        return moment.astimezone(settings.timezone).date()
    except (TypeError, ValueError, OverflowError):  # a date no calendar has
        return dt.datetime.now(settings.timezone).date()


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


def _unique_slug(session: Session, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:180] or "tool"
    slug, n = base, 1
    while session.scalar(select(Tool.id).where(Tool.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug
