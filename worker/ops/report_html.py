"""``digest report --html FILE``: the report as one page, its charts inline SVG.

No script and nothing fetched: the page is one file that opens from disk or
from the editor's preview server. The charts' geometry is worked out here,
as plain numbers; ``templates/report/report.html.j2`` draws it, with every
text escaped (titles and names come from feeds and editors).

- clicks per item: a horizontal bar per item, the most clicked first (the
  first :data:`ITEM_BARS`; the table below lists them all);
- the trend: the click rate and the unsubscribe rate of the editions in the
  report, oldest first, as two bar charts over the same weeks (their scales
  differ a hundredfold, so one axis would flatten the second).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.weeks import Week
from worker.now import process_now
from worker.ops.report import EditionReport, Report, edition_report, percent

TEMPLATE = "report.html.j2"
#: Items drawn as bars; the table lists every one.
ITEM_BARS = 20
LABEL_CHARS = 38  # an item's label drawn beside its bar; the full one is its tooltip

# The item chart: labels on the left, bars to their right, the count after.
CHART_WIDTH = 640
LABEL_WIDTH = 260
BAR_SPACE = 320
ROW = 24
BAR_HEIGHT = 16
# The trend: a panel per rate, a column per edition.
AXIS_WIDTH = 64
COLUMN_MOST = 48  # an edition's column at most: one edition is not a wall
PANEL_HEIGHT = 110
PANEL_TOP = 28  # the panel's title, and room for the values above the bars
PANEL_BOTTOM = 22  # the weeks under the bars


@dataclass(frozen=True)
class Bar:
    """One bar and its texts, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    label: str  # drawn (cut to fit)
    title: str  # the tooltip: the whole label
    value: str
    value_x: float
    value_y: float


@dataclass(frozen=True)
class Panel:
    """One rate of the trend: its bars, its title and top of scale."""

    title: str
    css: str  # the bars' class: their colour
    top: float  # y of the panel
    scale: str  # what the full height stands for
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...] = ()
    panels: tuple[Panel, ...] = ()


def item_chart(edition: EditionReport) -> Chart:
    """A horizontal bar per item, longest for the most clicked."""
    items = edition.items[:ITEM_BARS]
    most = max((i.clicks for i in items), default=0)
    bars = []
    for row, item in enumerate(items):
        length = max(1.0, round(item.clicks / most * BAR_SPACE, 1)) if most else 0.0
        y = row * ROW + (ROW - BAR_HEIGHT) / 2
        label = f"{item.label} ({item.kind})"
        bars.append(
            Bar(
                x=LABEL_WIDTH,
                y=y,
                width=length,
                height=BAR_HEIGHT,
                label=_cut(label, LABEL_CHARS),
                title=label,
                value=f"{item.clicks:,}",
                value_x=LABEL_WIDTH + length + 6,
                value_y=y + BAR_HEIGHT - 4,
            )
        )
    return Chart(CHART_WIDTH, max(1, len(items)) * ROW, bars=tuple(bars))


def trend_chart(report: Report) -> Chart:
    """The click rate and the unsubscribe rate of each edition, oldest first."""
    editions = list(reversed(report.editions))
    rates = (
        ("Click rate: clicks per accepted message", "bar", [e.click_rate for e in editions]),
        (
            "Unsubscribe rate: unsubscribes per accepted message",
            "unsub",
            [e.unsubscribe_rate for e in editions],
        ),
    )
    column = min(COLUMN_MOST, (CHART_WIDTH - AXIS_WIDTH) / max(1, len(editions)))
    height = PANEL_TOP + PANEL_HEIGHT + PANEL_BOTTOM
    panels = []
    for index, (title, css, values) in enumerate(rates):
        top = index * height
        most = max((v for v in values if v is not None), default=0.0)
        bars = []
        for n, (edition, value) in enumerate(zip(editions, values, strict=True)):
            size = round(value / most * PANEL_HEIGHT, 1) if value and most else 0.0
            x = AXIS_WIDTH + n * column + column * 0.15
            base = top + PANEL_TOP + PANEL_HEIGHT
            bars.append(
                Bar(
                    x=round(x, 1),
                    y=base - size,
                    width=round(column * 0.7, 1),
                    height=size,
                    label=_short_week(edition.week),
                    title=f"{edition.week}: {percent(value)}",
                    value=percent(value),
                    value_x=round(x + column * 0.35, 1),
                    value_y=base - size - 4,
                )
            )
        panels.append(Panel(title, css, top, percent(most) if most else "0 %", tuple(bars)))
    return Chart(CHART_WIDTH, 2 * height, panels=tuple(panels))


def _short_week(week: str) -> str:
    """ "2026-W48" as the axis says it: "W48"."""
    return week.partition("-")[2] or week


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


class ReportPage:
    """Renders the report page from ``templates_dir/report``."""

    def __init__(self, templates_dir: Path) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir / "report"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._env.filters["percent"] = percent
        self._env.filters["thousands"] = "{:,}".format

    def render(self, report: Report, now: dt.datetime) -> str:
        """The page of ``report``, made at ``now``."""
        return self._env.get_template(TEMPLATE).render(
            report=report,
            edition=report.edition,
            items=item_chart(report.edition),
            trend=trend_chart(report),
            bar_top=ITEM_BARS,
            made_at=now.isoformat(timespec="minutes"),
            axis=AXIS_WIDTH,
            panel_height=PANEL_HEIGHT,
            panel_top=PANEL_TOP,
        )


def page_maker(
    sessions: sessionmaker[Session], settings: Settings, week: Week
) -> Callable[[], str]:
    """What the editor's preview serves as ``/report.html``: ``week``'s
    report page, made when asked (the figures move while the edition goes
    out); raises :class:`~worker.ops.report.NothingToReport` before it has."""
    page = ReportPage(settings.templates_dir)
    return lambda: page.render(edition_report(sessions, settings, week), process_now())
