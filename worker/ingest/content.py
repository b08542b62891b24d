"""Editors' content files (YAML or JSON) read and checked into records.

A file is checked whole: every bad record is reported with its place
(``content.yaml:42: tools[3].reviews[1].seat: …``), and a file with any
problem gives no records at all. Nothing here touches the store; writing the
records is :mod:`worker.ingest.importer`.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from worker.domain.documents import DocumentError, line_index, load_json, load_yaml
from worker.domain.urls import is_web_url
from worker.domain.verdicts import SEAT_ORDER, Verdict
from worker.errors import ImportFileError
from worker.ingest.sanitise import clean_html

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# field: (required, max length, single line)
TOOL_FIELDS: dict[str, tuple[bool, int, bool]] = {
    "slug": (True, 200, True),
    "name": (True, 300, True),
    "vendor": (False, 200, True),
    "category": (False, 100, True),
    "tagline": (False, 500, True),
    "description": (False, 20_000, False),
    "entry": (False, 50, True),
    "url": (False, 2048, True),
}
COMPARISON_FIELDS: dict[str, tuple[bool, int, bool]] = {
    "slug": (True, 200, True),
    "title": (True, 500, True),
    "summary": (False, 2_000, False),
    "url": (False, 2048, True),
}
REVIEW_FIELDS = {"seat", "verdict", "quote", "reviewer"}


@dataclass
class ToolRecord:
    """A tool as a content file gives it, checked."""

    slug: str
    name: str
    vendor: str | None = None
    category: str | None = None
    tagline: str | None = None
    description: str | None = None
    entry: str | None = None
    url: str | None = None
    launched: dt.date | None = None
    # (seat, verdict, quote, reviewer); None: the file says nothing of
    # reviews, keep the stored ones.
    reviews: list[tuple[str, str, str, str | None]] | None = None


@dataclass
class ComparisonRecord:
    """A comparison as a content file gives it, checked; ``tools`` are the
    slugs of its columns, in order."""

    slug: str
    title: str
    summary: str | None
    url: str | None  # where its title links; None: COMPARE_URL or the site's page
    published: dt.datetime | None
    tools: list[str]


@dataclass
class Content:
    """Every record of a content file, and where each place in it is."""

    tools: list[ToolRecord] = field(default_factory=list)
    comparisons: list[ComparisonRecord] = field(default_factory=list)
    source: str = ""
    lines: dict[str, int] = field(default_factory=dict)

    def problem(self, where: str, message: str) -> str:
        """``message`` about the place ``where``, as every problem is said."""
        return _problem(self.source, self.lines, where, message)


def _problem(source: str, lines: dict[str, int], where: str, message: str) -> str:
    """``file:line: where: message`` (without the line in JSON)."""
    line = _line_of(where, lines)
    place = f"{source}:{line}" if line else source
    return f"{place}: {where}: {message}" if where else f"{place}: {message}"


def load_content(path: Path, timezone: dt.tzinfo = dt.UTC) -> Content:
    """Parse and validate a content file without touching the store."""
    data, lines = _parse(path)
    problems: list[str] = []

    def report(where: str, message: str) -> None:
        problems.append(_problem(str(path), lines, where, message))

    content = _validate(data, report, timezone)
    if problems:
        raise ImportFileError(str(path), problems)
    content.source, content.lines = str(path), lines
    return content


def _line_of(where: str, lines: dict[str, int]) -> int | None:
    """The line of ``where``, else of the nearest place that holds it: a
    missing field has no line of its own, and a JSON file has no lines."""
    while where and where not in lines:
        holder = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", where)
        where = holder if holder != where else ""  # a top-level name: held by the file
    return lines.get(where)


def _parse(path: Path) -> tuple[Any, dict[str, int]]:
    """The file's data, and the line of each place (YAML only)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImportFileError(str(path), [f"cannot read: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise ImportFileError(str(path), [f"not UTF-8 text (byte {error.start})"]) from None
    try:
        if path.suffix.lower() == ".json":
            return load_json(raw), {}
        data, node = load_yaml(raw)
    except DocumentError as error:
        raise ImportFileError(str(path), [str(error)]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ImportFileError(str(path), [f"{where}{problem}"]) from None
    return data, line_index(node)


Report = Callable[[str, str], None]

_Record = TypeVar("_Record", ToolRecord, ComparisonRecord)


def _validate(data: Any, report: Report, timezone: dt.tzinfo) -> Content:
    """The records of a file's ``data``; each problem goes to ``report``."""
    if data is None:
        report("", "the file is empty")
        return Content()
    if not isinstance(data, dict):
        report("", "expected a mapping with 'tools' and/or 'comparisons'")
        return Content()
    for key in data:
        if key not in ("tools", "comparisons"):
            report(str(key), "unknown section (expected 'tools' or 'comparisons')")
    tools, comparisons = (_section(data, name, report) for name in ("tools", "comparisons"))
    return Content(
        tools=_records(tools, "tools", _tool, report),
        comparisons=_records(
            comparisons, "comparisons", functools.partial(_comparison, timezone=timezone), report
        ),
    )


def _section(data: dict[str, Any], name: str, report: Report) -> list[Any]:
    """The items of section ``name``: none when the file has no such section
    or (reported) when it is not a list."""
    items = data.get(name, [])
    if not isinstance(items, list):
        report(name, "must be a list")
        return []
    return items


def _records(
    items: list[Any],
    section: str,
    record_of: Callable[[Any, str, Report], _Record | None],
    report: Report,
) -> list[_Record]:
    """The good records of a section's items; a slug given twice is reported."""
    records: list[_Record] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        record = record_of(item, f"{section}[{index}]", report)
        if record is None:
            continue
        if record.slug in seen:
            report(f"{section}[{index}].slug", f"duplicate slug {record.slug!r}")
        seen.add(record.slug)
        records.append(record)
    return records


def _fields(
    item: dict[str, Any], where: str, spec: dict[str, tuple[bool, int, bool]], report: Report
) -> dict[str, str | None] | None:
    """The string fields of ``item`` per ``spec``, or None if any is bad."""
    values: dict[str, str | None] = {}
    ok = True
    for name, (required, limit, single_line) in spec.items():
        value = item.get(name)
        place = f"{where}.{name}"
        if value is None or value == "":
            if required:
                report(place, "is required")
                ok = False
            values[name] = None
            continue
        if (
            not isinstance(value, str | int | float)
            or isinstance(value, bool)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            report(place, "must be text")
            ok = False
            continue
        text = str(value).strip()
        if single_line and CONTROL.search(text):
            report(place, "must be one line (no line breaks or control characters)")
            ok = False
        elif len(text) > limit:
            report(place, f"is {len(text)} characters long; the limit is {limit}")
            ok = False
        elif name == "url" and not is_web_url(text):
            report(place, f"{text!r} is not an http(s) URL")
            ok = False
        values[name] = text
    slug = values.get("slug")
    if slug and not SLUG.match(slug):
        report(f"{where}.slug", f"{slug!r} is not a slug (lowercase letters, digits, hyphens)")
        ok = False
    return values if ok else None


def _is_record(item: Any, where: str, fields: set[str], report: Report) -> bool:
    """True for a mapping; each unknown field in it is reported as a problem."""
    if not isinstance(item, dict):
        report(where, "must be a mapping")
        return False
    for key in item:
        if key not in fields:
            report(f"{where}.{key}", "unknown field")
    return True


def _tool(item: Any, where: str, report: Report) -> ToolRecord | None:
    if not _is_record(item, where, {*TOOL_FIELDS, "launched", "reviews"}, report):
        return None
    values = _fields(item, where, TOOL_FIELDS, report)
    launched = _date(item.get("launched"), f"{where}.launched", report)
    reviews = _reviews(item["reviews"], f"{where}.reviews", report) if "reviews" in item else None
    if values is None or launched is False or reviews is False:
        return None
    description = values["description"]
    return ToolRecord(
        slug=str(values["slug"]),
        name=str(values["name"]),
        vendor=values["vendor"],
        category=values["category"],
        tagline=values["tagline"],
        description=clean_html(description) if description else None,
        entry=values["entry"],
        url=values["url"],
        launched=launched,
        reviews=reviews,
    )


def _reviews(
    items: Any, where: str, report: Report
) -> list[tuple[str, str, str, str | None]] | bool:
    if not isinstance(items, list):
        report(where, "must be a list of reviews")
        return False
    seats = list(SEAT_ORDER)
    verdicts = [v.value for v in Verdict]
    reviews: list[tuple[str, str, str, str | None]] = []
    seen: set[object] = set()
    ok = True
    for index, review in enumerate(items):
        place = f"{where}[{index}]"
        if not isinstance(review, dict):
            report(place, "must be a mapping with seat, verdict and quote")
            ok = False
            continue
        for key in review:
            if key not in REVIEW_FIELDS:
                report(f"{place}.{key}", "unknown field")
                ok = False
        seat, verdict, quote = review.get("seat"), review.get("verdict"), review.get("quote")
        reviewer = review.get("reviewer")
        if seat not in seats:
            report(f"{place}.seat", f"{seat!r} is not one of {', '.join(seats)}")
            ok = False
        elif seat in seen:
            report(f"{place}.seat", f"a second review for the {seat} seat")
            ok = False
        seen.add(seat)
        if verdict not in verdicts:
            report(f"{place}.verdict", f"{verdict!r} is not one of {', '.join(verdicts)}")
            ok = False
        if not isinstance(quote, str) or not quote.strip():
            report(f"{place}.quote", "is required text")
            ok = False
        elif len(quote) > 10_000:
            report(f"{place}.quote", f"is {len(quote)} characters long; the limit is 10000")
            ok = False
        if reviewer is not None and (not isinstance(reviewer, str) or CONTROL.search(reviewer)):
            report(f"{place}.reviewer", "must be one line of text")
            ok = False
        if ok:
            reviews.append((str(seat), str(verdict), " ".join(str(quote).split()), reviewer))
    return reviews if ok else False


def _comparison(
    item: Any, where: str, report: Report, timezone: dt.tzinfo
) -> ComparisonRecord | None:
    if not _is_record(item, where, {*COMPARISON_FIELDS, "published", "tools"}, report):
        return None
    values = _fields(item, where, COMPARISON_FIELDS, report)
    published = _datetime(item.get("published"), f"{where}.published", report, timezone)
    tools = item.get("tools")
    ok = True
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        report(f"{where}.tools", "must be a list of tool slugs")
        ok = False
    elif len(tools) < 2:
        report(f"{where}.tools", "a comparison needs at least two tools")
        ok = False
    elif len(set(tools)) != len(tools):
        report(f"{where}.tools", "lists a tool twice")
        ok = False
    if values is None or published is False or not ok:
        return None
    return ComparisonRecord(
        slug=str(values["slug"]),
        title=str(values["title"]),
        summary=values["summary"],
        url=values["url"],
        published=published,
        tools=list(tools),  # type: ignore[arg-type]
    )


def _date(value: Any, where: str, report: Report) -> dt.date | bool | None:
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        report(where, f"{value!r} is not a date (YYYY-MM-DD)")
        return False


def _datetime(
    value: Any, where: str, report: Report, timezone: dt.tzinfo
) -> dt.datetime | bool | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            report(where, f"{value!r} is not a date and time (ISO 8601)")
            return False
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone)
