"""Editors' content files (YAML or JSON) → tools, reviews and comparisons.

A file is validated whole before anything is written: every bad record is
reported with its place (``content.yaml:42: tools[3].reviews[1].seat: …``)
and a file with any error imports nothing. Records are matched by ``slug``,
so importing the same file again updates instead of duplicating.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.domain.urls import is_web_url
from worker.domain.verdicts import Seat, Verdict
from worker.errors import ImportFileError
from worker.ingest.sanitise import clean_html
from worker.store.models import Comparison, ComparisonTool, Review, Tool

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
}
REVIEW_FIELDS = {"seat", "verdict", "quote", "reviewer"}


@dataclass
class ToolRecord:
    slug: str
    name: str
    vendor: str | None = None
    category: str | None = None
    tagline: str | None = None
    description: str | None = None
    entry: str | None = None
    url: str | None = None
    launched: dt.date | None = None
    # None: the file says nothing of reviews, keep the stored ones.
    reviews: list[tuple[str, str, str, str | None]] | None = None


@dataclass
class ComparisonRecord:
    slug: str
    title: str
    summary: str | None
    published: dt.datetime | None
    tools: list[str]


@dataclass
class Content:
    tools: list[ToolRecord] = field(default_factory=list)
    comparisons: list[ComparisonRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    tools_added: int
    tools_updated: int
    reviews: int
    comparisons_added: int
    comparisons_updated: int


def import_file(
    sessions: sessionmaker[Session], path: Path, timezone: dt.tzinfo = dt.UTC
) -> ImportSummary:
    """Validate ``path`` and import it in one transaction.

    Naive timestamps in the file are read in ``timezone``. Raises
    :class:`ImportFileError` listing every problem; then nothing is written.
    """
    content = load_content(path, timezone)
    with sessions.begin() as session:
        missing = _unknown_tool_slugs(session, content)
        if missing:
            raise ImportFileError(str(path), missing)
        return _write(session, content)


def load_content(path: Path, timezone: dt.tzinfo = dt.UTC) -> Content:
    """Parse and validate a content file without touching the store."""
    data, lines = _parse(path)
    problems: list[str] = []

    def report(where: str, message: str) -> None:
        # A missing field has no line of its own: use its record's.
        owner = where
        while owner and owner not in lines:
            owner = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", owner)
        line = lines.get(owner)
        place = f"{path}:{line}" if line else str(path)
        problems.append(f"{place}: {where}: {message}" if where else f"{place}: {message}")

    content = _validate(data, report, timezone)
    if problems:
        raise ImportFileError(str(path), problems)
    return content


def _parse(path: Path) -> tuple[Any, dict[str, int]]:
    """The file's data, and the line of each place (YAML only)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImportFileError(str(path), [f"cannot read: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise ImportFileError(str(path), [f"not UTF-8 text (byte {error.start})"]) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(raw), {}
        except json.JSONDecodeError as error:
            problem = f"line {error.lineno}, column {error.colno}: {error.msg}"
            raise ImportFileError(str(path), [problem]) from None
    try:
        node = yaml.compose(raw, Loader=yaml.SafeLoader)
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ImportFileError(str(path), [f"{where}{problem}"]) from None
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines)
    return data, lines


def _index_lines(node: yaml.Node, where: str, lines: dict[str, int]) -> None:
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = f"{where}.{key.value}" if where else str(key.value)
            _index_lines(value, name, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, f"{where}[{index}]", lines)


Report = Callable[[str, str], None]


def _validate(data: Any, report: Report, timezone: dt.tzinfo) -> Content:
    content = Content()
    if data is None:
        report("", "the file is empty")
        return content
    if not isinstance(data, dict):
        report("", "expected a mapping with 'tools' and/or 'comparisons'")
        return content
    for key in data:
        if key not in ("tools", "comparisons"):
            report(str(key), "unknown section (expected 'tools' or 'comparisons')")
    for section in ("tools", "comparisons"):
        if section in data and not isinstance(data[section], list):
            report(section, "must be a list")
    tools = data.get("tools") if isinstance(data.get("tools"), list) else []
    comparisons = data.get("comparisons") if isinstance(data.get("comparisons"), list) else []
    seen: set[str] = set()
    for index, item in enumerate(tools):
        record = _tool(item, f"tools[{index}]", report)
        if record is None:
            continue
        if record.slug in seen:
            report(f"tools[{index}].slug", f"duplicate slug {record.slug!r}")
        seen.add(record.slug)
        content.tools.append(record)
    seen = set()
    for index, item in enumerate(comparisons):
        comparison = _comparison(item, f"comparisons[{index}]", report, timezone)
        if comparison is None:
            continue
        if comparison.slug in seen:
            report(f"comparisons[{index}].slug", f"duplicate slug {comparison.slug!r}")
        seen.add(comparison.slug)
        content.comparisons.append(comparison)
    return content


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
        if not isinstance(value, str | int | float) or isinstance(value, bool):
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
    url = item.get("url")
    if isinstance(url, str) and url and not is_web_url(url):
        report(f"{where}.url", f"{url!r} is not an http(s) URL")
        return None
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
    seats = [s.value for s in Seat]
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


def _unknown_tool_slugs(session: Session, content: Content) -> list[str]:
    """Comparisons' tool slugs found neither in the file nor in the store."""
    in_file = {t.slug for t in content.tools}
    wanted = {s for c in content.comparisons for s in c.tools} - in_file
    stored = (
        set(session.scalars(select(Tool.slug).where(Tool.slug.in_(wanted)))) if wanted else set()
    )
    return [
        f"comparisons[{index}].tools: no tool with slug {slug!r} in the file or the store"
        for index, comparison in enumerate(content.comparisons)
        for slug in comparison.tools
        if slug in wanted - stored
    ]


def _write(session: Session, content: Content) -> ImportSummary:
    existing = {
        t.slug: t
        for t in session.scalars(select(Tool).where(Tool.slug.in_([r.slug for r in content.tools])))
    }
    added = updated = reviews = 0
    for record in content.tools:
        tool = existing.get(record.slug)
        if tool is None:
            tool = Tool(slug=record.slug)
            session.add(tool)
            existing[record.slug] = tool
            added += 1
        else:
            updated += 1
        tool.name = record.name
        tool.vendor = record.vendor
        tool.category = record.category
        tool.tagline = record.tagline
        tool.description = record.description
        tool.entry_price = record.entry
        tool.url = record.url
        tool.launched_on = record.launched
        if record.reviews is not None:
            tool.reviews.clear()
            session.flush()  # the old seats must go before the new ones arrive
            seats = [s.value for s in Seat]
            for seat, verdict, quote, reviewer in record.reviews:
                tool.reviews.append(
                    Review(
                        seat=seat,
                        position=seats.index(seat),
                        verdict=verdict,
                        quote=quote,
                        reviewer=reviewer,
                    )
                )
                reviews += 1
    session.flush()
    by_slug = {
        t.slug: t
        for t in session.scalars(
            select(Tool).where(Tool.slug.in_({s for c in content.comparisons for s in c.tools}))
        )
    }
    comparisons = {
        c.slug: c
        for c in session.scalars(
            select(Comparison).where(Comparison.slug.in_([c.slug for c in content.comparisons]))
        )
    }
    c_added = c_updated = 0
    for record in content.comparisons:
        comparison = comparisons.get(record.slug)
        if comparison is None:
            comparison = Comparison(slug=record.slug)
            session.add(comparison)
            c_added += 1
        else:
            c_updated += 1
        comparison.title = record.title
        comparison.summary = record.summary
        comparison.published_at = record.published
        comparison.entries.clear()
        session.flush()
        for position, slug in enumerate(record.tools):
            comparison.entries.append(ComparisonTool(tool=by_slug[slug], position=position))
    return ImportSummary(added, updated, reviews, c_added, c_updated)
