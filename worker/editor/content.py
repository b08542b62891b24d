"""What content a week has, as an editor manages it (``digest content
list``): its comparisons, its launches and its tools, with the ids and slugs
that ``digest content hide`` and ``remove`` take, hidden ones included.

- **comparisons**: those published in the week;
- **launches**: the tools launched in the week that no comparison of the
  week covers, as the edition lists them (:func:`worker.gather.launch_of`);
- **tools**: every tool of the week: launched in it, or a column of one of
  its comparisons.

Without a week, every comparison and every tool (launches belong to a week).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session, selectinload

from worker.config import Settings, redact_url
from worker.domain.weeks import Week
from worker.gather import launch_of
from worker.store.models import Comparison, ComparisonTool, Feed, Tool

#: The kinds of content a listing has, in the order it shows them.
LISTED = ("comparisons", "launches", "tools")


@dataclass(frozen=True)
class ComparisonRow:
    id: int
    slug: str
    title: str
    category: str | None  # its first tool's, as the digest files it
    published_at: dt.datetime | None
    tools: tuple[str, ...]  # the slugs of its columns, in order
    hidden_at: dt.datetime | None

    @property
    def ref(self) -> str:
        return f"comparison:{self.slug}"


@dataclass(frozen=True)
class ToolRow:
    """A tool; listed as a launch, its reference is ``launch:ID``."""

    id: int
    slug: str
    name: str
    vendor: str | None
    category: str | None
    launched_on: dt.date | None
    feed: str | None  # the feed's title, else its URL (credentials masked); None: imported
    compared_in: tuple[str, ...]  # the slugs of the comparisons it is a column of
    hidden_at: dt.datetime | None


@dataclass(frozen=True)
class Listing:
    """The content of ``week`` (None: of every week), by kind; a kind not
    asked for is None."""

    week: str | None
    comparisons: tuple[ComparisonRow, ...] | None = None
    launches: tuple[ToolRow, ...] | None = None
    tools: tuple[ToolRow, ...] | None = None


def list_content(
    session: Session,
    settings: Settings,
    week: Week | None,
    kinds: Collection[str] = LISTED,
    *,
    hidden_only: bool = False,
) -> Listing:
    """The ``kinds`` of content of ``week`` (or of every week), hidden ones
    included (only them, with ``hidden_only``). Launches need a week."""
    if week is None and "launches" in kinds:
        raise ValueError("launches belong to a week")
    published = _published_in(week, settings)
    listing = Listing(week=None if week is None else str(week))
    if "comparisons" in kinds:
        hidden = Comparison.hidden_at.is_not(None) if hidden_only else true()
        listing = replace(listing, comparisons=_comparisons(session, and_(published, hidden)))
    tool_hidden = Tool.hidden_at.is_not(None) if hidden_only else true()
    if week is not None and "launches" in kinds:
        launches = _tools(session, and_(launch_of(week, settings), tool_hidden))
        listing = replace(listing, launches=launches)
    if "tools" in kinds:
        if week is None:
            of_week: ColumnElement[bool] = true()
        else:
            compared = select(ComparisonTool.tool_id).join(Comparison).where(published)
            launched = and_(Tool.launched_on >= week.monday, Tool.launched_on <= week.sunday)
            of_week = or_(launched, Tool.id.in_(compared))
        listing = replace(listing, tools=_tools(session, and_(of_week, tool_hidden)))
    return listing


def _published_in(week: Week | None, settings: Settings) -> ColumnElement[bool]:
    if week is None:
        return true()
    start, end = week.bounds(settings.timezone)
    return and_(Comparison.published_at >= start, Comparison.published_at < end)


def _comparisons(session: Session, condition: ColumnElement[bool]) -> tuple[ComparisonRow, ...]:
    found = session.scalars(
        select(Comparison)
        .where(condition)
        .order_by(Comparison.published_at.is_(None), Comparison.published_at, Comparison.id)
        .options(selectinload(Comparison.entries).selectinload(ComparisonTool.tool))
    )
    return tuple(
        ComparisonRow(
            id=c.id,
            slug=c.slug,
            title=c.title,
            category=c.entries[0].tool.category if c.entries else None,
            published_at=c.published_at,
            tools=tuple(entry.tool.slug for entry in c.entries),
            hidden_at=c.hidden_at,
        )
        for c in found
    )


def _tools(session: Session, condition: ColumnElement[bool]) -> tuple[ToolRow, ...]:
    """The tools that meet ``condition``, as the digest groups them: by
    category, then name."""
    rows = session.execute(
        select(
            Tool.id,
            Tool.slug,
            Tool.name,
            Tool.vendor,
            Tool.category,
            Tool.launched_on,
            Feed.title,
            Feed.url,
            Tool.hidden_at,
        )
        .outerjoin(Feed, Feed.id == Tool.feed_id)
        .where(condition)
        .order_by(Tool.category.is_(None), Tool.category, func.lower(Tool.name), Tool.id)
    ).all()
    compared: dict[int, list[str]] = defaultdict(list)
    columns = session.execute(
        select(ComparisonTool.tool_id, Comparison.slug)
        .join(Comparison, Comparison.id == ComparisonTool.comparison_id)
        .where(ComparisonTool.tool_id.in_(select(Tool.id).where(condition)))
        .order_by(Comparison.published_at, Comparison.id)
    )
    for tool_id, slug in columns:
        compared[tool_id].append(slug)
    return tuple(
        ToolRow(
            id=row.id,
            slug=row.slug,
            name=row.name,
            vendor=row.vendor,
            category=row.category,
            launched_on=row.launched_on,
            feed=row.title or (redact_url(row.url) if row.url else None),
            compared_in=tuple(compared[row.id]),
            hidden_at=row.hidden_at,
        )
        for row in rows
    )
