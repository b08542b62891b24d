"""The feeds file, and fetching and parsing one feed over HTTP.

A fetch is a conditional GET with the feed's ETag and Last-Modified. It follows
redirects by hand and reports where the feed has moved for good: only when
every hop was permanent (301/308). A body is read up to a size cap and a
deadline; an HTTP error is a ``FeedError`` that keeps its status. feedparser's
``bozo`` problems are warnings unless the feed yields no entries and no
version.
"""

from __future__ import annotations

import re
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import yaml

from worker.config import Settings
from worker.domain.documents import DocumentError, line_index, load_yaml
from worker.domain.urls import is_web_url
from worker.errors import ConfigError, FeedError, InputError
from worker.ingest.lengths import FEED_URL_MAX, label
from worker.ingest.sanitise import plain_text

CHUNK = 64 * 1024
#: Where the feeds are looked for when FEEDS_FILE names no file.
DEFAULT_FEEDS_FILE = Settings().feeds_file


@dataclass(frozen=True)
class FeedSpec:
    """A feed as the feeds file lists it."""

    url: str
    category: str | None = None
    title: str | None = None


def configured_feeds(settings: Settings, named: Path | None = None) -> list[FeedSpec]:
    """The feeds to ingest: those of ``named`` (``digest ingest --feeds``),
    else of ``FEEDS_FILE``.

    Feeds are optional: no file at the default place means none are
    configured, and content comes by ``digest import`` only. A file someone
    named must exist (a ConfigError naming the option or variable); a bad one
    is an InputError, as :func:`load_feeds_file` reports it.
    """
    path = named or settings.feeds_file
    if not path.exists():
        if named is None and path == DEFAULT_FEEDS_FILE:
            return []
        raise ConfigError(f"{'--feeds' if named else 'FEEDS_FILE'}: {path} does not exist")
    return load_feeds_file(path)


def load_feeds_file(path: Path) -> list[FeedSpec]:
    """The feeds listed in a TOML (``[[feed]]``) or YAML (``feeds:``) file.

    Every problem is reported, with its line where the file gives one: a
    feed without a usable url, and any table or key this reader does not
    know (a ``[[feeds]]`` table must not pass for an empty list of feeds).
    """
    toml = path.suffix.lower() not in (".yaml", ".yml")
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(str(path), [f"cannot read the feeds file: {error.strerror}"]) from None
    try:
        if toml:
            data, lines = tomllib.loads(raw), _toml_lines(raw)
        else:
            data, node = load_yaml(raw)
            lines = line_index(node)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, DocumentError) as error:
        raise InputError(
            str(path), [f"not valid {path.suffix.lstrip('.') or 'TOML'}: {error}"]
        ) from None
    except RecursionError:  # tomllib recurses into nested arrays and tables
        raise InputError(str(path), ["not valid TOML: nested too deep"]) from None
    problems: list[str] = []

    def report(where: str, message: str) -> None:
        line = lines.get(where)
        problems.append(f"{path}:{line}: {where}: {message}" if line else f"{where}: {message}")

    name, entries = _feed_list(data, toml, report)
    if not isinstance(entries, list):
        raise InputError(str(path), ["expected a list of feeds ([[feed]] in TOML, feeds: in YAML)"])
    specs = []
    for index, entry in enumerate(entries):
        spec = _feed_spec(entry, f"{name}[{index}]", report)
        if spec is not None:
            specs.append(spec)
    if problems:
        raise InputError(str(path), problems)
    return specs


FEED_KEYS = ("url", "category", "title")


def _feed_list(data: Any, toml: bool, report: Callable[[str, str], None]) -> tuple[str, Any]:
    """The name the file gives its list of feeds and the list; each other
    top-level table or key is reported."""
    if isinstance(data, list) and not toml:  # a YAML file that is the list itself
        return "", data
    if not isinstance(data, dict):
        return "", None if data is not None else []
    known = ("feed",) if toml else ("feeds", "feed")
    for key in data:
        if key not in known:
            wanted = "[[feed]] tables" if toml else "a 'feeds:' list"
            report(str(key), f"unknown {'table' if toml else 'key'}; the feeds are {wanted}")
    name = next((key for key in known if key in data), known[0])
    return name, data.get(name, [])


def _feed_spec(entry: Any, where: str, report: Callable[[str, str], None]) -> FeedSpec | None:
    """One feed of the file, or None when it is reported as a problem."""
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        report(where, "needs a url")
        return None
    unknown = [key for key in entry if key not in FEED_KEYS]
    for key in unknown:
        report(f"{where}.{key}", f"unknown key; a feed has {', '.join(FEED_KEYS)}")
    problem = feed_url_problem(entry["url"].strip())
    if problem:
        report(f"{where}.url", f"{label(entry['url'])!r} {problem}")
    if unknown or problem:
        return None
    category, title = entry.get("category"), entry.get("title")
    return FeedSpec(
        url=entry["url"].strip(),
        category=plain_text(str(category), 100) or None if category else None,
        title=plain_text(str(title), 300) or None if title else None,
    )


_TOML_TABLE = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_-]+)\s*\]\]?")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _toml_lines(raw: str) -> dict[str, int]:
    """The line of each table and key of a flat TOML file such as a feeds
    file, by the places :func:`load_feeds_file` reports (``feed[2].urll``);
    tomllib keeps no lines. Nested or dotted keys are not placed: their
    problems are reported without a line."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(raw.splitlines(), start=1):
        if found := _TOML_TABLE.match(line):
            name = found.group(1)
            if line.lstrip().startswith("[["):
                index = counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{index}]"
            else:
                table = name
            lines.setdefault(name, number)
            lines[table] = number
        elif found := _TOML_KEY.match(line):
            key = found.group(1)
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def feed_url_problem(url: str) -> str | None:
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


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]
    final_url: str
    permanent_redirect: str | None


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


def fetch(url: str, etag: str | None, modified: str | None, settings: Settings) -> _Response:
    """The feed at ``url``, asked for only if changed since ``etag`` and
    ``modified`` (304: an empty body), through up to five redirects. Raises
    a ``FeedError`` (with the HTTP status where there is one) otherwise."""
    headers = _request_headers(etag, modified, settings)
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
                problem = feed_url_problem(target)
                if problem:
                    raise _FetchError(
                        url, f"redirected to {label(target)!r}, which {problem}"
                    ) from None
                # The feed moves only when every hop so far was permanent.
                all_permanent = all_permanent and status in (301, 308)
                permanent = target if all_permanent else None
                current = target
                continue
            raise _FetchError(url, _refusal(status, error.reason), status) from None
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


def _request_headers(etag: str | None, modified: str | None, settings: Settings) -> dict[str, str]:
    """Who asks, for what, and (with the feed's validators) only if changed."""
    headers = {
        "User-Agent": f"verdict-digest/0.1 (+{settings.site_url})",
        "Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5",
    }
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    return headers


def _refusal(status: int, reason: str) -> str:
    """What an HTTP error status that is not a redirect says of the feed."""
    return "gone (410): the feed is deactivated" if status == 410 else f"HTTP {status} {reason}"


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


def parse(url: str, response: _Response) -> feedparser.FeedParserDict:
    """The feed in ``response``; a ``FeedError`` when it is not a feed at all."""
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


def warnings(url: str, parsed: feedparser.FeedParserDict) -> list[str]:
    """The problems feedparser met in a feed it could read, one line each."""
    if parsed.bozo and parsed.get("bozo_exception") is not None:
        return [f"{url}: parsed with problems: {parsed.bozo_exception}"]
    return []
