"""Tables that never cut a value: a rich table where it fits the terminal,
else (a narrow terminal, a pipe, cron mail, a log file) one plain line per
row with every value whole, so that a feed's URL or an edition's week can
always be read and searched for."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_fitted(console: Console, *items: Table | str) -> None:
    """Print each table as :func:`fitted_lines` says, and each string as
    the markup it is."""
    for item in items:
        for line in fitted_lines(console, item) if isinstance(item, Table) else [item]:
            console.print(line, highlight=False)


def fitted_lines(console: Console, table: Table) -> list[Table | str]:
    """``table`` itself on a terminal wide enough for all of it; otherwise
    its title, then a line per row: the first column's value, then each
    other column's header and value (empty values left out), or the one
    value of a two-column table::

        Editions
          2026-W48: status ready; queued 0; sent 0; started at —
        Subscribers
          confirmed: 8
    """
    unbounded = console.options.update_width(1_000_000)  # the table's own width
    if console.is_terminal and console.measure(table, options=unbounded).maximum <= console.width:
        return [table]
    headers = [str(column.header) for column in table.columns]
    columns = [[str(cell) for cell in column.cells] for column in table.columns]
    lines: list[Table | str] = [f"[bold]{table.title}[/]"] if table.title else []
    for row in zip(*columns, strict=True):
        name, *values = row
        if len(values) == 1:  # a name and its one figure: the title says of what
            pairs = values
        else:
            named = zip(headers[1:], values, strict=True)
            pairs = [f"{header} {value}" for header, value in named if value]
        lines.append(f"  {name}: {'; '.join(pairs)}" if any(pairs) else f"  {name}")
    return lines
