"""Store → a week's :class:`~worker.domain.digest.Digest`: the only reader of content.

A pure query: it reads, never writes, and hands back plain dataclasses that
render can use without a database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, select
from sqlalchemy.orm import Session, selectinload

from worker.config import Settings
from worker.domain.digest import (
    ComparisonBlock,
    Digest,
    Launch,
    PullQuote,
    SeatVerdict,
    ToolColumn,
)
from worker.domain.editorial import EditionFile, read_edition_file, shape, unknown_items
from worker.domain.urls import comparison_url
from worker.domain.verdicts import figures_for, pull_quote
from worker.domain.weeks import Week
from worker.store.models import Comparison, ComparisonTool, EditorCopy, Tool, Vote

log = logging.getLogger("worker.gather")


def gather_week(session: Session, week: Week, settings: Settings) -> Digest:
    """The week's published comparisons and every new launch, for every
    category, as the week's edition file shapes them (when it has one);
    render shows at most ``DIGEST_MAX_LAUNCHES`` of the launches. Hidden
    content is never gathered."""
    digest, missing = gather_shaped(session, week, settings)
    for problem in missing:
        # The file was checked against the week when it was stored; an item
        # hidden or removed since then is left out of the shaping, not the send.
        log.warning("edition file names a missing item: %s", problem, extra={"edition": str(week)})
    return digest


def gather_shaped(session: Session, week: Week, settings: Settings) -> tuple[Digest, list[str]]:
    """:func:`gather_week`'s digest, and a problem for each item its edition
    file names that the week no longer has (hidden or removed since)."""
    digest = gather_computed(session, week, settings)
    edition_file = gather_edition_file(session, week, settings)
    if edition_file is None:
        return digest, []
    source = f"edition file {week}"
    missing = unknown_items(digest, edition_file, source)
    return shape(digest, edition_file, source, strict=False), missing


def gather_edition_file(session: Session, week: Week, settings: Settings) -> EditionFile | None:
    """The week's edition file as stored (checked when it was), or None."""
    stored = session.scalar(
        select(EditorCopy.source).where(
            EditorCopy.list_id == settings.list_id, EditorCopy.name == str(week)
        )
    )
    return None if stored is None else read_edition_file(stored, f"edition file {week}")


def gather_computed(session: Session, week: Week, settings: Settings) -> Digest:
    """The week's digest as computed, before any edition file shapes it."""
    comparisons = _published(session, *week.bounds(settings.timezone))
    compared = {entry.tool_id for c in comparisons for entry in c.entries}
    votes = _votes(session, compared)
    return Digest(
        list_name=settings.list_name,
        week=str(week),
        starts_on=week.monday,
        ends_on=week.sunday,
        site_url=settings.site_url.rstrip("/"),
        postal_address=settings.postal_address,
        method_url=settings.method_url or None,
        comparisons=tuple(_block(c, votes, settings) for c in comparisons),
        launches=_launches(session, week, settings),
        max_launches=settings.digest_max_launches,
    )


def _published(session: Session, start: dt.datetime, end: dt.datetime) -> list[Comparison]:
    """The comparisons published in ``[start, end)``, with their tools and reviews."""
    return list(
        session.scalars(
            _shown_comparisons()
            .where(Comparison.published_at >= start, Comparison.published_at < end)
            .order_by(Comparison.published_at, Comparison.id)
        )
    )


def _shown_comparisons() -> Select[tuple[Comparison]]:
    """Comparisons an edition or the site may show (not hidden), with their
    tools and reviews."""
    return (
        select(Comparison)
        .where(Comparison.hidden_at.is_(None))
        .options(
            selectinload(Comparison.entries)
            .selectinload(ComparisonTool.tool)
            .selectinload(Tool.reviews)
        )
    )


def gather_comparison(session: Session, slug: str, settings: Settings) -> ComparisonBlock | None:
    """One comparison as the digest shows it (its verdict table, with every
    review's quote), for the site's page of it; None for an unknown slug, a
    hidden comparison, or one never published (a draft no edition shows)."""
    comparison = session.scalar(
        _shown_comparisons().where(Comparison.slug == slug, Comparison.published_at.is_not(None))
    )
    if comparison is None:
        return None
    votes = _votes(session, [entry.tool_id for entry in comparison.entries])
    return _block(comparison, votes, settings)


def _block(
    comparison: Comparison, votes: dict[int, list[str]], settings: Settings
) -> ComparisonBlock:
    """A comparison as the digest shows it: a column of figures per tool."""
    return ComparisonBlock(
        slug=comparison.slug,
        title=comparison.title,
        summary=comparison.summary,
        url=comparison_url(
            comparison.slug,
            own=comparison.url,
            compare_url=settings.compare_url,
            site_url=settings.site_url,
        ),
        category=comparison.entries[0].tool.category if comparison.entries else None,
        tools=tuple(
            _column(entry.tool, votes.get(entry.tool_id, [])) for entry in comparison.entries
        ),
    )


def _launches(session: Session, week: Week, settings: Settings) -> tuple[Launch, ...]:
    """Every launch of ``week``."""
    query = _launched_in(week, settings).order_by(
        Tool.category, Tool.launched_on, Tool.name, Tool.id
    )
    return tuple(_launch(row) for row in session.execute(query))


@dataclass(frozen=True)
class LaunchPage:
    """Some of a week's launches, and how many it has in all."""

    total: int
    launches: tuple[Launch, ...]


def gather_launches(
    session: Session, week: Week, settings: Settings, *, offset: int, limit: int
) -> LaunchPage:
    """``limit`` of the launches :func:`gather_week` gives, from ``offset``,
    listed by category and name as an email groups them: a page of a week's
    launches, read without reading them all."""
    query = _launched_in(week, settings)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if offset >= total:  # nothing there (and no offset past what SQL can count)
        return LaunchPage(total, ())
    listed = query.order_by(Tool.category.is_(None), Tool.category, func.lower(Tool.name), Tool.id)
    rows = session.execute(listed.offset(offset).limit(limit))
    return LaunchPage(total, tuple(_launch(row) for row in rows))


def _launched_in(week: Week, settings: Settings) -> Select[Any]:
    """The launches of ``week`` but hidden ones, only the columns a launch needs."""
    return select(*_LAUNCH_COLUMNS).where(launch_of(week, settings), Tool.hidden_at.is_(None))


def launch_of(week: Week, settings: Settings) -> ColumnElement[bool]:
    """The condition on ``Tool`` of being one of ``week``'s launches, hidden
    or not: launched in the week, and covered by no comparison of the week
    (which shows it). A hidden comparison covers nothing: its new tools are
    launches."""
    start, end = week.bounds(settings.timezone)
    compared = (
        select(ComparisonTool.tool_id)
        .join(Comparison, Comparison.id == ComparisonTool.comparison_id)
        .where(
            Comparison.published_at >= start,
            Comparison.published_at < end,
            Comparison.hidden_at.is_(None),
        )
    )
    return and_(
        Tool.launched_on >= week.monday,
        Tool.launched_on <= week.sunday,
        Tool.id.not_in(compared),
    )


_LAUNCH_COLUMNS = (
    Tool.id,
    Tool.slug,
    Tool.name,
    Tool.vendor,
    Tool.category,
    Tool.tagline,
    Tool.entry_price,
    Tool.url,
    Tool.launched_on,
    Tool.feed_id,
)


def _launch(row: Row[Any]) -> Launch:
    return Launch(
        tool_id=row.id,
        slug=row.slug,
        name=row.name,
        vendor=row.vendor,
        category=row.category,
        tagline=row.tagline,
        entry=row.entry_price,
        url=row.url,
        launched_on=row.launched_on,
        feed_id=row.feed_id,
    )


def _votes(session: Session, tool_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each tool's community votes, as a list of verdicts."""
    ids = list(tool_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Vote.tool_id, Vote.verdict, func.count())
        .where(Vote.tool_id.in_(ids))
        .group_by(Vote.tool_id, Vote.verdict)
    )
    votes: dict[int, list[str]] = defaultdict(list)
    for tool_id, verdict, count in rows:
        votes[tool_id].extend([verdict] * count)
    return votes


def _column(tool: Tool, votes: list[str]) -> ToolColumn:
    split = [SeatVerdict(r.seat, r.verdict) for r in tool.reviews]
    return ToolColumn(
        tool_id=tool.id,
        slug=tool.slug,
        name=tool.name,
        vendor=tool.vendor,
        category=tool.category,
        tagline=tool.tagline,
        url=tool.url,
        figures=figures_for(split, votes, tool.entry_price),
        quote=pull_quote([(r.seat, r.verdict, r.quote) for r in tool.reviews]),
        quotes=tuple(PullQuote(r.seat, r.verdict, r.quote) for r in tool.reviews),
    )


def gather_tool(session: Session, slug: str) -> ToolColumn | None:
    """One tool's verdict column (panel, community votes, entry, split), as
    the vote page shows it; None for an unknown slug."""
    tool = session.scalar(select(Tool).where(Tool.slug == slug).options(selectinload(Tool.reviews)))
    if tool is None:
        return None
    return _column(tool, _votes(session, [tool.id]).get(tool.id, []))
