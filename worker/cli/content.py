"""``digest ingest`` and ``digest import``: content into the store."""

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from worker.cli.common import (
    console,
    load,
    ready_sessions,
    sessions_for,
)
from worker.cli.tables import print_fitted
from worker.config import redact_url
from worker.domain.words import plural
from worker.ingest.feeds import configured_feeds
from worker.ingest.importer import import_file
from worker.ingest.runner import ingest_feeds


@click.command()
@click.option(
    "--feeds",
    "feeds_file",
    type=click.Path(path_type=Path),
    help="Feeds file (TOML or YAML); default FEEDS_FILE or feeds.toml.",
)
def ingest(feeds_file: Path | None) -> None:
    """Fetch the feeds and store their new launches."""
    settings = load()
    feeds = configured_feeds(settings, feeds_file)
    if not feeds:
        console.print("no feeds configured: content comes by digest import")
        return
    report = ingest_feeds(ready_sessions(settings), feeds, settings)
    # Feed text may hold rich [markup]: escaped. Skipped entries were
    # logged one by one as warnings.
    table = Table("feed", "result", "new", "duplicates", "skipped", "left out", "error")
    for result in report.feeds:
        table.add_row(
            escape(redact_url(result.url)),
            result.status,
            str(result.new),
            str(result.duplicates),
            str(result.skipped),
            str(result.left_out),
            escape(result.error or ""),
        )
    print_fitted(console, table)
    if any(r.status == "error" for r in report.feeds):
        sys.exit(2)


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
def import_(path: Path) -> None:
    """Load tools, reviews and comparisons from a YAML or JSON file.

    A file with any bad record imports nothing; every problem is listed.
    """
    settings = load()
    summary = import_file(sessions_for(settings), path, settings.timezone)
    console.print(
        f"{path}: {plural(summary.tools_added, 'tool')} added, "
        f"{summary.tools_updated} updated, {plural(summary.reviews, 'review')}, "
        f"{plural(summary.comparisons_added, 'comparison')} added, "
        f"{summary.comparisons_updated} updated"
    )
