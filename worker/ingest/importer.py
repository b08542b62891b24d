"""Editors' content files → tools, reviews and comparisons in the store.

A file is read and checked whole first (:mod:`worker.ingest.content`); a file
with any problem imports nothing. Records are matched by ``slug``, so
importing the same file again updates instead of duplicating.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.domain.verdicts import SEAT_ORDER
from worker.errors import ImportFileError
from worker.ingest.content import ComparisonRecord, Content, ToolRecord, load_content
from worker.store.models import Comparison, ComparisonTool, Review, Tool

_Row = TypeVar("_Row", Tool, Comparison)


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
        tools_added, tools_updated, reviews = _write_tools(session, content.tools)
        session.flush()
        comparisons_added, comparisons_updated = _write_comparisons(session, content.comparisons)
    return ImportSummary(
        tools_added, tools_updated, reviews, comparisons_added, comparisons_updated
    )


def _unknown_tool_slugs(session: Session, content: Content) -> list[str]:
    """Comparisons' tool slugs found neither in the file nor in the store."""
    in_file = {t.slug for t in content.tools}
    wanted = {s for c in content.comparisons for s in c.tools} - in_file
    stored = (
        set(session.scalars(select(Tool.slug).where(Tool.slug.in_(wanted)))) if wanted else set()
    )
    return [
        content.problem(
            f"comparisons[{index}].tools[{position}]",
            f"no tool with slug {slug!r} in the file or the store",
        )
        for index, comparison in enumerate(content.comparisons)
        for position, slug in enumerate(comparison.tools)
        if slug in wanted - stored
    ]


def _write_tools(session: Session, records: list[ToolRecord]) -> tuple[int, int, int]:
    """Each record as a tool, added or updated: (added, updated, reviews written)."""
    stored = _by_slug(session, Tool, [r.slug for r in records])
    added = reviews = 0
    for record in records:
        tool, new = _stored_or_added(session, stored, Tool, record.slug)
        added += new
        tool.name = record.name
        tool.vendor = record.vendor
        tool.category = record.category
        tool.tagline = record.tagline
        tool.description = record.description
        tool.entry_price = record.entry
        tool.url = record.url
        tool.launched_on = record.launched
        if record.reviews is not None:
            reviews += _replace_reviews(session, tool, record.reviews)
    return added, len(records) - added, reviews


def _replace_reviews(
    session: Session, tool: Tool, reviews: list[tuple[str, str, str, str | None]]
) -> int:
    """``tool``'s reviews replaced by ``reviews``; how many were written."""
    tool.reviews.clear()
    session.flush()  # the old seats must go before the new ones arrive
    for seat, verdict, quote, reviewer in reviews:
        tool.reviews.append(
            Review(
                seat=seat,
                position=SEAT_ORDER.index(seat),
                verdict=verdict,
                quote=quote,
                reviewer=reviewer,
            )
        )
    return len(reviews)


def _write_comparisons(session: Session, records: list[ComparisonRecord]) -> tuple[int, int]:
    """Each record as a comparison, added or updated, its columns replaced:
    (added, updated)."""
    tools = _by_slug(session, Tool, {s for r in records for s in r.tools})
    stored = _by_slug(session, Comparison, [r.slug for r in records])
    added = 0
    for record in records:
        comparison, new = _stored_or_added(session, stored, Comparison, record.slug)
        added += new
        comparison.title = record.title
        comparison.summary = record.summary
        comparison.url = record.url
        comparison.published_at = record.published
        comparison.entries.clear()
        session.flush()
        for position, slug in enumerate(record.tools):
            comparison.entries.append(ComparisonTool(tool=tools[slug], position=position))
    return added, len(records) - added


def _by_slug(session: Session, model: type[_Row], slugs: Iterable[str]) -> dict[str, _Row]:
    """The stored rows of ``model`` with these slugs, by slug."""
    rows = session.scalars(select(model).where(model.slug.in_(slugs)))
    return {row.slug: row for row in rows}


def _stored_or_added(
    session: Session, stored: dict[str, _Row], model: type[_Row], slug: str
) -> tuple[_Row, bool]:
    """The stored row with ``slug``, or a new one added to the session (and
    to ``stored``); True when it is new."""
    row = stored.get(slug)
    if row is not None:
        return row, False
    row = model(slug=slug)
    session.add(row)
    stored[slug] = row
    return row, True
