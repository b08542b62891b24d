"""A comparison's verdict table in the plain-text part, for monospace clients.

Two or three tools make one table: a label column and a column per tool,
each row a figure or a reviewer seat, read across as in the HTML. When the
columns would be too narrow (four or more tools, a word longer than a
column, characters a monospace font draws double-wide) the figures are
listed under each tool instead (:func:`tool_figures`).
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Sequence

from worker.domain.digest import ComparisonBlock, Figures, ToolColumn
from worker.domain.verdicts import seat_rows

LABEL_WIDTH = 12  # "Panel ship" and two spaces
GAP = 2
MOST_COLUMNS = 3

SeatRows = Sequence[tuple[str, Sequence[str | None]]]


def verdict_table(block: ComparisonBlock, width: int) -> str:
    """``block``'s verdict table within ``width`` characters, or "" when it
    does not fit as columns (see the module's docstring)."""
    tools = block.tools
    if not tools or len(tools) > MOST_COLUMNS:
        return ""
    column = (width - LABEL_WIDTH - GAP * (len(tools) - 1)) // len(tools)
    rows: list[tuple[str, list[str]]] = [
        ("", [tool.name for tool in tools]),
        *((label, [value(tool.figures) for tool in tools]) for label, value in _FIGURES),
        *((seat.capitalize(), [_mark(v) for v in verdicts]) for seat, verdicts in seat_rows(tools)),
    ]
    wrapped = [[_wrapped(text, column) for text in texts] for _, texts in rows]
    cells = [[lines for lines in row if lines is not None] for row in wrapped]
    if any(len(row) != len(tools) for row in cells):
        return ""
    lines: list[str] = []
    for (label, _), row in zip(rows, cells, strict=True):
        for i in range(max(len(cell) for cell in row)):
            parts = [(cell[i] if i < len(cell) else "").ljust(column) for cell in row]
            lines.append((label if i == 0 else "").ljust(LABEL_WIDTH) + (" " * GAP).join(parts))
        if not label:  # under the tools' names
            lines.append(" " * LABEL_WIDTH + (" " * GAP).join("-" * column for _ in tools))
    return "\n".join(line.rstrip() for line in lines)


def tool_figures(tool: ToolColumn, seats: SeatRows, index: int, width: int) -> str:
    """One tool's figures and seat verdicts as indented label and value
    lines: the table's rows for a tool listed on its own. ``seats`` are the
    comparison's seat rows, ``index`` the tool's place among its tools."""
    rows = [(label, value(tool.figures)) for label, value in _FIGURES]
    rows += [(seat.capitalize(), _mark(verdicts[index])) for seat, verdicts in seats]
    indent = "  "
    return "\n".join(
        textwrap.fill(
            text,
            width=width,
            initial_indent=f"{indent}{label:<{LABEL_WIDTH}}",
            subsequent_indent=" " * (len(indent) + LABEL_WIDTH),
            break_long_words=False,
            break_on_hyphens=False,
        )
        for label, text in rows
    )


def _panel(f: Figures) -> str:
    if f.panel_ship is None:
        return "—"
    return f"{f.panel_ship}% ({f.panel_ships} of {f.panel_reviews})"


def _community(f: Figures) -> str:
    if f.community is None:
        return "—"
    votes = f.community_votes
    return f"{f.community}% ({votes:,} vote{'s' if votes != 1 else ''})"


_FIGURES = (
    ("Panel ship", _panel),
    ("Community", _community),
    ("Entry", lambda f: f.entry or "—"),
)


def _mark(verdict: str | None) -> str:
    return {"ship": "✓ ship", "skip": "✗ skip"}.get(verdict or "", "—")


def _wrapped(text: str, width: int) -> list[str] | None:
    """``text`` in lines of at most ``width`` characters, or None when it
    cannot be: a word longer than that, or a double-wide character."""
    if any(unicodedata.east_asian_width(ch) in "WF" for ch in text):
        return None
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    if any(len(line) > width for line in lines):
        return None
    return lines or [""]
