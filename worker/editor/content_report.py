"""What ``digest content`` prints: a listing as tables or JSON, and in
words what hiding, showing again or removing did to the items and to the
editions of their weeks. Plain text: the command escapes it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from rich.markup import escape
from rich.table import Table

from worker.config import Settings
from worker.domain.states import EditionStatus
from worker.domain.words import plural
from worker.editor.content import ComparisonRow, Listing, ToolRow
from worker.editor.hiding import Hidden
from worker.editor.rebuilds import EditionEffect
from worker.editor.removal import Removal

# How a frozen edition is said: "2026-W48 is already sending: its copy is unchanged".
_FROZEN = {
    EditionStatus.SENDING: "is already sending",
    EditionStatus.PAUSED: "is paused mid-send",
    EditionStatus.SENT: "was already sent",
    EditionStatus.CANCELLED: "was cancelled",
}


def listing_tables(listing: Listing, settings: Settings, *, hidden_only: bool) -> list[Table | str]:
    """A table per kind listed (rich markup escaped), or a line saying it has none."""
    zone = settings.timezone
    of = f" of {listing.week}" if listing.week else ""
    shown: list[Table | str] = []
    if listing.comparisons is not None:
        table = Table("ref", "id", "title", "category", "published", "tools", "hidden")
        table.title = f"Comparisons published in {listing.week}" if listing.week else "Comparisons"
        for c in listing.comparisons:
            table.add_row(
                *_cells(
                    c.ref,
                    str(c.id),
                    c.title,
                    c.category,
                    _local(c.published_at, zone),
                    ", ".join(c.tools),
                    _local(c.hidden_at, zone),
                )
            )
        shown.append(_or_none(table, f"comparisons{of}", hidden_only))
    for title, rows in (("Launches", listing.launches), ("Tools", listing.tools)):
        if rows is None:
            continue
        as_launch = title == "Launches"
        table = Table("ref", "slug" if as_launch else "id", "name", "category", "launched", "feed")
        if not as_launch:  # a launch is in no comparison of its week
            table.add_column("compared in")
        table.add_column("hidden")
        table.title = f"{title}{of}"
        for t in rows:
            table.add_row(*_tool_cells(t, zone, as_launch=as_launch))
        shown.append(_or_none(table, f"{title.lower()}{of}", hidden_only))
    return shown


def _tool_cells(row: ToolRow, zone: ZoneInfo, *, as_launch: bool) -> list[str]:
    launched = row.launched_on.isoformat() if row.launched_on else ""
    if as_launch:
        ref, key, compared = f"launch:{row.id}", row.slug, []
    else:
        ref, key, compared = f"tool:{row.slug}", str(row.id), [", ".join(row.compared_in)]
    return _cells(
        ref,
        key,
        row.name,
        row.category,
        launched,
        row.feed or "import",
        *compared,
        _local(row.hidden_at, zone),
    )


def _cells(*values: str | None) -> list[str]:
    return [escape(value or "") for value in values]


def _or_none(table: Table, what: str, hidden_only: bool) -> Table | str:
    if table.row_count:
        return table
    return f"no {'hidden ' if hidden_only else ''}{what}"


def _local(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}" if moment else ""


def listing_json(listing: Listing) -> str:
    """``listing`` as JSON: each kind listed as a list of objects with their
    ``ref`` (what ``digest content hide`` takes) and ``hidden``; times in
    ISO 8601, UTC."""
    shown: dict[str, Any] = {"week": listing.week}
    if listing.comparisons is not None:
        shown["comparisons"] = [_json(row.ref, row) for row in listing.comparisons]
    if listing.launches is not None:
        shown["launches"] = [_json(f"launch:{row.id}", row) for row in listing.launches]
    if listing.tools is not None:
        shown["tools"] = [_json(f"tool:{row.slug}", row) for row in listing.tools]
    return json.dumps(shown, indent=2, ensure_ascii=False)


def _json(ref: str, row: ComparisonRow | ToolRow) -> dict[str, Any]:
    fields = {
        key: value.isoformat() if isinstance(value, dt.date) else value
        for key, value in asdict(row).items()
    }
    return {"ref": ref, **fields, "hidden": row.hidden_at is not None}


def hidden_line(done: Hidden, settings: Settings) -> str:
    """What hiding or showing again did to one item."""
    if done.hidden_at is None:
        return f"{done.item}: {'shown again' if done.changed else 'was not hidden'}"
    if not done.changed:
        return f"{done.item}: already hidden (since {_local(done.hidden_at, settings.timezone)})"
    if done.still_in:
        named = ", ".join(f"comparison:{slug}" for slug in done.still_in)
        return (
            f"{done.item}: hidden as a launch; {named} still "
            f"{'shows' if len(done.still_in) == 1 else 'show'} it "
            "(hide the comparison to leave it out)"
        )
    return f"{done.item}: hidden"


def edition_line(effect: EditionEffect) -> str:
    """What became of one week's edition."""
    week = effect.week
    if effect.error:
        return (
            f"{week}: not rebuilt, so it still shows what it showed: {effect.error}; "
            f"fix that, then run digest build --week {week}"
        )
    if effect.status is None:
        return f"{week}: no edition built yet; its build will gather the content as it is then"
    if not effect.rebuilt:
        frozen = _FROZEN.get(EditionStatus(effect.status), "has deliveries already")
        return f"{week} {frozen}: its copy is unchanged"
    if effect.status == EditionStatus.SKIPPED:
        said = f"{week}: edition rebuilt: nothing is left to send, so it is recorded as skipped"
    else:
        said = f"{week}: edition rebuilt"
    if effect.approval_withdrawn:
        said += f"; its approval was withdrawn: look at it, then digest approve --week {week}"
    return said


def removal_lines(removal: Removal) -> list[str]:
    """What removing takes with it, one line per item, then the comparisons
    that lose a column and the editions that show any of it."""
    shown = []
    for tool in removal.tools:
        takes = [plural(tool.reviews, "review"), plural(tool.votes, "vote")]
        if tool.comparisons:
            named = ", ".join(f"comparison:{slug}" for slug in tool.comparisons)
            takes.append(f"its {'column' if len(tool.comparisons) == 1 else 'columns'} in {named}")
        shown.append(f"{tool.item} takes with it {_listed(takes)}")
    for comparison in removal.comparisons:
        shown.append(
            f"{comparison.item} takes with it its {plural(comparison.columns, 'column')}; "
            "its tools stay"
        )
    for slug, left in removal.narrowed:
        shown.append(f"comparison:{slug} stays, with {plural(left, 'tool')}")
    if removal.weeks:
        weeks = ", ".join(str(week) for week in removal.weeks)
        shown.append(
            f"editions that show it: {weeks} (rebuilt if unsent; a sent edition keeps its copy)"
        )
    return shown


def _listed(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
