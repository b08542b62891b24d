"""The feeds file: the feeds to ingest, each with its URL checked.

Fetching a feed is :mod:`worker.ingest.fetch`, parsing it
:mod:`worker.ingest.parsing`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from worker.config import Settings
from worker.domain.urls import is_web_url
from worker.errors import ConfigError, InputError
from worker.ingest.lengths import FEED_URL_MAX, label
from worker.ingest.sanitise import plain_text

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
        problem = feed_url_problem(entry["url"].strip())
        if problem:
            problems.append(f"{place}.url: {label(entry['url'])!r} {problem}")
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
