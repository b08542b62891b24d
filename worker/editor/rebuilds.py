"""Which editions show a tool or a comparison, and rebuilding the unsent
ones after an editor hid, showed again or removed it.

An edition of week W shows W's published comparisons and W's launches
(:func:`worker.gather.launch_of`). A ready or skipped edition without
deliveries is rebuilt (:func:`worker.deliver.editions.build_edition`); one
that is sending, paused, sent or cancelled is a frozen render and keeps its
copy; a week without an edition has nothing to rebuild (its build gathers
the store as it is then).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.deliver.editions import build_edition, find_edition, rebuildable
from worker.domain.weeks import Week, week_of
from worker.editor.refs import Item
from worker.errors import DigestError
from worker.gather import launch_of
from worker.render.renderer import Renderer
from worker.store.models import Comparison, ComparisonTool, Tool


@dataclass(frozen=True)
class EditionEffect:
    """What became of one week's edition."""

    week: str
    status: str | None  # the edition's status now; None: none was built
    rebuilt: bool
    approval_withdrawn: bool = False  # an approval is of what the editor saw
    error: str | None = None  # why the rebuild failed: the edition is as it was


def launch_week(session: Session, tool_id: int, settings: Settings) -> Week | None:
    """The week whose launches the tool is one of (hidden or not), if any:
    not the week of a comparison that covers it."""
    launched_on = session.scalar(select(Tool.launched_on).where(Tool.id == tool_id))
    if launched_on is None:
        return None
    week = Week(*launched_on.isocalendar()[:2])
    is_launch = session.scalar(
        select(exists().where(Tool.id == tool_id, launch_of(week, settings)))
    )
    return week if is_launch else None


def comparison_weeks(
    session: Session, settings: Settings, *, ids: Iterable[int] = (), of_tool: int | None = None
) -> set[Week]:
    """The weeks of the shown (published, not hidden) comparisons among
    ``ids``, or of those ``of_tool`` is a column of."""
    query = select(Comparison.published_at).where(
        Comparison.published_at.is_not(None), Comparison.hidden_at.is_(None)
    )
    if of_tool is not None:
        query = query.join(ComparisonTool).where(ComparisonTool.tool_id == of_tool)
    else:
        query = query.where(Comparison.id.in_(list(ids)))
    return {_week(moment, settings) for moment in session.scalars(query)}


def weeks_of(session: Session, item: Item, settings: Settings) -> set[Week]:
    """The weeks whose edition shows ``item`` or would if it were not
    hidden: a comparison's week, a launch's week (a tool shown as a column
    of a comparison is left to that comparison)."""
    if item.kind == "comparison":
        published = session.scalar(select(Comparison.published_at).where(Comparison.id == item.id))
        return set() if published is None else {_week(published, settings)}
    week = launch_week(session, item.id, settings)
    return set() if week is None else {week}


def _week(moment: dt.datetime, settings: Settings) -> Week:
    return week_of(moment, settings.timezone)


def rebuild_unsent(
    sessions: sessionmaker[Session], weeks: Iterable[Week], settings: Settings, renderer: Renderer
) -> tuple[EditionEffect, ...]:
    """Each of ``weeks``' editions rebuilt if it is unsent (ready or
    skipped, no deliveries), else left as it is; one effect per week, in
    order. A rebuild that fails (a template error) is said in its effect,
    and the other weeks are still rebuilt."""
    effects = []
    for week in sorted(set(weeks), key=lambda w: (w.year, w.number)):
        with sessions() as session:
            edition = find_edition(session, settings.list_id, str(week))
            if edition is None or not rebuildable(session, edition):
                status = None if edition is None else edition.status
                effects.append(EditionEffect(str(week), status, rebuilt=False))
                continue
            status, approved = edition.status, edition.approved_at is not None
        try:
            built = build_edition(sessions, week, settings, renderer)
        except DigestError as error:
            effects.append(EditionEffect(str(week), status, rebuilt=False, error=str(error)))
            continue
        effects.append(
            EditionEffect(
                str(week),
                built.status,
                rebuilt=built.built,
                approval_withdrawn=approved and built.built,
            )
        )
    return tuple(effects)
