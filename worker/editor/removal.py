"""``digest content remove``: tools and comparisons deleted for good, after
the editor has seen what each takes with it.

A tool takes its reviews, its community votes and its columns in
comparisons; a comparison takes its columns, never its tools. A comparison
must keep two tools: removing a tool that would leave one of its
comparisons with fewer is refused, unless that comparison is named for
removal too (so nothing goes that the editor did not name). The store's
foreign keys do the cascading (``ON DELETE CASCADE``; SQLite's are on
for every connection, :func:`worker.store.make_engine`). The unsent
editions that showed any of it are rebuilt; sent editions keep their
stored copy.

The plan is made in one short transaction, shown and confirmed, then made
again in the deleting transaction: if the store changed meanwhile nothing
is removed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from worker.config import Settings
from worker.domain.weeks import Week
from worker.domain.words import plural
from worker.editor.rebuilds import EditionEffect, comparison_weeks, launch_week, rebuild_unsent
from worker.editor.refs import ContentError, Item, find_items
from worker.render.renderer import Renderer
from worker.store.models import Comparison, ComparisonTool, Review, Tool, Vote

#: The fewest tools a comparison has (as a content file must give it).
FEWEST_TOOLS = 2


@dataclass(frozen=True)
class ToolTakes:
    """A tool to remove and what goes with it."""

    item: Item
    reviews: int
    votes: int
    comparisons: tuple[str, ...]  # the slugs of those it is a column of


@dataclass(frozen=True)
class ComparisonTakes:
    """A comparison to remove: its columns go, its tools stay."""

    item: Item
    columns: int


@dataclass(frozen=True)
class Removal:
    """What removing the items named takes with it."""

    tools: tuple[ToolTakes, ...]
    comparisons: tuple[ComparisonTakes, ...]
    # Comparisons not named that lose columns: (slug, tools they keep).
    narrowed: tuple[tuple[str, int], ...]
    weeks: tuple[Week, ...]  # whose editions show some of it

    @property
    def refs(self) -> list[str]:
        return [t.item.ref for t in self.tools] + [c.item.ref for c in self.comparisons]


def plan_removal(session: Session, refs: Sequence[str], settings: Settings) -> Removal:
    """What removing the items ``refs`` name would take with it; a
    :class:`ContentError` for an unknown reference, or for a comparison
    the removal would leave with fewer than two tools."""
    items = find_items(session, refs)
    tools = [item for item in items if item.kind == "tool"]
    comparisons = [item for item in items if item.kind == "comparison"]
    tool_ids = [tool.id for tool in tools]
    named = {c.id for c in comparisons}
    columns: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for tool_id, comparison_id, slug in session.execute(
        select(ComparisonTool.tool_id, Comparison.id, Comparison.slug)
        .join(Comparison, Comparison.id == ComparisonTool.comparison_id)
        .where(ComparisonTool.tool_id.in_(tool_ids))
        .order_by(Comparison.published_at, Comparison.id)
    ):
        columns[tool_id].append((comparison_id, slug))
    losing = Counter(cid for tool_id in tool_ids for cid, _ in columns[tool_id])
    widths = _widths(session, [*losing, *named])
    narrowed: list[tuple[str, int]] = []
    problems: list[str] = []
    blocking: list[str] = []
    for cid, slug in sorted({c for tool_id in tool_ids for c in columns[tool_id]}):
        if cid in named:
            continue
        left = widths[cid] - losing[cid]
        if left < FEWEST_TOOLS:
            going = [t.ref for t in tools if cid in (c for c, _ in columns[t.id])]
            problems.append(
                f"removing {' and '.join(going)} would leave comparison:{slug} with "
                f"{plural(left, 'tool')}"
            )
            blocking.append(f"comparison:{slug}")
        narrowed.append((slug, left))
    if problems:
        raise ContentError(
            "; ".join(problems),
            hint="name the comparison too, to remove it with them: digest content remove "
            f"{' '.join([*refs, *blocking])}; or hide the tool instead: digest content hide "
            f"{' '.join(t.ref for t in tools)}",
        )
    weeks: set[Week] = set()
    for tool in tools:
        hidden = session.scalar(select(Tool.hidden_at).where(Tool.id == tool.id))
        if hidden is None and (week := launch_week(session, tool.id, settings)) is not None:
            weeks.add(week)
        weeks |= comparison_weeks(session, settings, of_tool=tool.id)
    weeks |= comparison_weeks(session, settings, ids=named)
    return Removal(
        tools=tuple(
            ToolTakes(
                item=tool,
                reviews=_count(session, Review.tool_id, tool.id),
                votes=_count(session, Vote.tool_id, tool.id),
                comparisons=tuple(slug for _, slug in columns[tool.id]),
            )
            for tool in tools
        ),
        comparisons=tuple(ComparisonTakes(c, widths[c.id]) for c in comparisons),
        narrowed=tuple(narrowed),
        weeks=tuple(sorted(weeks, key=lambda w: (w.year, w.number))),
    )


def remove_content(
    sessions: sessionmaker[Session], removal: Removal, settings: Settings, renderer: Renderer
) -> tuple[EditionEffect, ...]:
    """Remove what ``removal`` (as confirmed) says, in one transaction, then
    rebuild the unsent editions that showed it. A :class:`ContentError`,
    and nothing removed, when the store no longer gives the same plan."""
    with sessions.begin() as session:
        if plan_removal(session, removal.refs, settings) != removal:
            raise ContentError(
                "the content changed after the removal was planned; nothing was removed",
                hint="run the command again to see what it takes now",
            )
        comparison_ids = [c.item.id for c in removal.comparisons]
        tool_ids = [t.item.id for t in removal.tools]
        # Core deletes: the store's cascades take the reviews, votes and columns.
        session.execute(delete(Comparison).where(Comparison.id.in_(comparison_ids)))
        session.execute(delete(Tool).where(Tool.id.in_(tool_ids)))
    return rebuild_unsent(sessions, removal.weeks, settings, renderer)


def _widths(session: Session, comparison_ids: Sequence[int]) -> dict[int, int]:
    """How many tools each comparison has."""
    return dict(
        session.execute(  # type: ignore[arg-type]
            select(ComparisonTool.comparison_id, func.count())
            .where(ComparisonTool.comparison_id.in_(comparison_ids))
            .group_by(ComparisonTool.comparison_id)
        ).all()
    )


def _count(session: Session, column: InstrumentedAttribute[int], tool_id: int) -> int:
    return session.scalar(select(func.count()).where(column == tool_id)) or 0
