"""``digest content hide`` and ``unhide``: an item an editor hides (a junk
launch from a feed, a comparison not ready) is in no unsent edition, and
back in them when shown again.

Hiding marks the tool or comparison (``hidden_at``); gather leaves hidden
content out, so every build after it does, and the unsent editions that
showed it are rebuilt at once (:mod:`worker.editor.rebuilds`). Hiding a
tool hides it as a launch: a comparison that has it as a column still
shows it (hide the comparison for that), and a hidden comparison's new
tools are launches of its week. Sent editions keep their copy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.weeks import Week
from worker.editor.rebuilds import EditionEffect, rebuild_unsent, weeks_of
from worker.editor.refs import Item, find_items
from worker.render.renderer import Renderer
from worker.store.models import Comparison, ComparisonTool, Tool


@dataclass(frozen=True)
class Hidden:
    """One item hidden or shown again; ``changed`` is False when it already was."""

    item: Item
    changed: bool
    hidden_at: dt.datetime | None  # since when it is hidden, if it is
    # A hidden tool's shown comparisons: they still show it as a column.
    still_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class HideReport:
    items: tuple[Hidden, ...]
    editions: tuple[EditionEffect, ...]


def set_hidden(
    sessions: sessionmaker[Session],
    refs: Iterable[str],
    settings: Settings,
    renderer: Renderer,
    *,
    hidden: bool,
    now: dt.datetime,
) -> HideReport:
    """Hide (or show again) the items ``refs`` name, all or none (an unknown
    reference changes nothing), then rebuild the unsent editions that show
    them, or showed them."""
    weeks: set[Week] = set()
    done = []
    with sessions.begin() as session:
        for item in find_items(session, refs):
            model = Tool if item.kind == "tool" else Comparison
            was = session.scalar(select(model.hidden_at).where(model.id == item.id))
            changed = (was is None) == hidden
            if changed:
                weeks |= weeks_of(session, item, settings)
                session.execute(
                    update(model)
                    .where(model.id == item.id)
                    .values(hidden_at=now if hidden else None)
                )
            hidden_at = (now if changed else was) if hidden else None
            still_in = _shown_comparisons(session, item) if hidden else ()
            done.append(Hidden(item, changed, hidden_at, still_in))
    return HideReport(tuple(done), rebuild_unsent(sessions, weeks, settings, renderer))


def _shown_comparisons(session: Session, item: Item) -> tuple[str, ...]:
    """The slugs of the published, shown comparisons that have the tool
    ``item`` as a column."""
    if item.kind != "tool":
        return ()
    return tuple(
        session.scalars(
            select(Comparison.slug)
            .join(ComparisonTool)
            .where(
                ComparisonTool.tool_id == item.id,
                Comparison.published_at.is_not(None),
                Comparison.hidden_at.is_(None),
            )
            .order_by(Comparison.published_at, Comparison.id)
        )
    )
