"""The feeds file: the feeds to ingest, each with its URL checked.

Fetching a feed is :mod:`worker.ingest.fetch`, parsing it
:mod:`worker.ingest.parsing`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from worker.config import Settings
from worker.domain.documents import DocumentError, line_index, load_yaml
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
        problems.append("expected a list of feeds ([[feed]] in TOML, feeds: in YAML)")
        raise InputError(str(path), problems)
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
