"""Feeds (RSS/Atom) → launches in the store.

Each feed owns its fetch state (ETag, Last-Modified). The HTTP status decides
what happens: 304 skips, 301/308 rewrite the feed's URL, 410 deactivates it,
other errors are recorded on the feed. feedparser's ``bozo`` problems are
warnings unless the feed yields no entries and no version. Entries are
deduplicated by guid, then by canonical URL, and their HTML is sanitised
before it is stored. One feed's failure never costs another feed anything:
each feed is its own transaction.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.errors import FeedError, InputError
from worker.sanitise import clean_html, is_web_url, plain_text
from worker.store.models import Feed, Tool

log = logging.getLogger("worker.ingest")

CHUNK = 64 * 1024
TRACKING = re.compile(r"^(utm_.*|ref|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)
NAMESPACE = "https://verdicts.example/ns/1"


@dataclass(frozen=True)
class FeedSpec:
    """A feed as the feeds file lists it."""

    url: str
    category: str | None = None
    title: str | None = None


@dataclass
class FeedResult:
    url: str
    status: str  # ok, not-modified, gone, error, inactive
    new: int = 0
    duplicates: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    feeds: list[FeedResult] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.feeds)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.feeds if f.status == "error")


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
        if not is_web_url(entry["url"]):
            problems.append(f"{place}.url: {entry['url']!r} is not an http(s) URL")
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
    """Fetch every feed and store its new launches; errors are per feed."""
    report = IngestReport()
    for spec in feeds:
        result = _ingest_one(sessions, spec, settings)
        report.feeds.append(result)
        if result.status == "error":
            log.warning("feed %s: %s", result.url, result.error)
        else:
            log.info(
                "feed %s: %s, %d new, %d duplicates",
                result.url,
                result.status,
                result.new,
                result.duplicates,
            )
    return report


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]
    final_url: str
    permanent_redirect: str | None


def _ingest_one(sessions: sessionmaker[Session], spec: FeedSpec, settings: Settings) -> FeedResult:
    with sessions.begin() as session:
        feed = session.scalars(select(Feed).where(Feed.url == spec.url)).one_or_none()
        if feed is None:
            feed = Feed(url=spec.url, title=spec.title, category=spec.category)
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
        feed.etag = response.headers.get("etag") or None
        feed.last_modified = response.headers.get("last-modified") or None
        assert parsed is not None
        if not feed.title:
            feed.title = plain_text(parsed.feed.get("title", ""), 300) or None
        result = FeedResult(spec.url, "ok", warnings=_warnings(parsed))
        _store_entries(session, feed, parsed.entries, spec, settings, result)
        return result


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
                if not is_web_url(target):
                    raise _FetchError(url, f"redirected to a non-http URL {target!r}") from None
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


def _warnings(parsed: feedparser.FeedParserDict) -> list[str]:
    if parsed.bozo and parsed.get("bozo_exception") is not None:
        return [f"parsed with problems: {parsed.bozo_exception}"]
    return []


def _store_entries(
    session: Session,
    feed: Feed,
    entries: Sequence[Any],
    spec: FeedSpec,
    settings: Settings,
    result: FeedResult,
) -> None:
    seen_guids: set[str] = set()
    seen_urls: set[str] = set()
    for entry in entries:
        link = entry.get("link") or ""
        url = link.strip() if is_web_url(link.strip()) else None
        canonical = canonical_url(url) if url else None
        guid = (entry.get("id") or url or "").strip()[:2048] or None
        name = plain_text(entry.get("title", ""), 300)
        if not name:
            result.warnings.append("an entry without a title was left out")
            continue
        if (guid and guid in seen_guids) or (canonical and canonical in seen_urls):
            result.duplicates += 1
            continue
        known = False
        if guid:
            known = session.scalar(select(Tool.id).where(Tool.guid == guid)) is not None
        if not known and canonical:
            known = (
                session.scalar(select(Tool.id).where(Tool.canonical_url == canonical)) is not None
            )
        if known:
            result.duplicates += 1
            continue
        if guid:
            seen_guids.add(guid)
        if canonical:
            seen_urls.add(canonical)
        summary = _summary_html(entry)
        tags = entry.get("tags") or []
        category = (
            feed.category
            or spec.category
            or (plain_text(tags[0].get("term", ""), 100) if tags else None)
        )
        session.add(
            Tool(
                slug=_unique_slug(session, name),
                name=name,
                vendor=plain_text(entry.get("verdict_vendor") or entry.get("author") or "", 200)
                or None,
                category=category or None,
                tagline=plain_text(summary, 200) or None,
                description=clean_html(summary) or None,
                entry_price=plain_text(entry.get("verdict_price") or "", 50) or None,
                url=url,
                guid=guid,
                canonical_url=canonical,
                launched_on=_launch_date(entry, settings),
                feed_id=feed.id,
            )
        )
        session.flush()  # the next entry's slug and dedupe checks see this one
        result.new += 1


def _summary_html(entry: Any) -> str:
    content = entry.get("content") or []
    if content and content[0].get("value"):
        return str(content[0]["value"])[:100_000]
    return str(entry.get("summary") or "")[:100_000]


def _launch_date(entry: Any, settings: Settings) -> dt.date:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    moment = dt.datetime(*stamp[:6], tzinfo=dt.UTC) if stamp else dt.datetime.now(dt.UTC)
    return moment.astimezone(settings.timezone).date()


def canonical_url(url: str) -> str:
    """``url`` without what makes one page look like two: scheme and host
    case, default ports, fragments, tracking parameters, a trailing slash."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
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
