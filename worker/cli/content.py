"""``digest ingest`` and ``digest import``: content into the store;
``digest content``: what an editor does with it (list, hide, remove)."""

import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from worker.cli.common import (
    COMING,
    coming,
    console,
    errors,
    load,
    ready_sessions,
    sessions_for,
)
from worker.cli.tables import print_fitted
from worker.config import redact_url
from worker.domain.words import plural
from worker.editor.content import LISTED, list_content
from worker.editor.content_report import (
    edition_line,
    hidden_line,
    listing_json,
    listing_tables,
    removal_lines,
)
from worker.editor.hiding import set_hidden
from worker.editor.rebuilds import EditionEffect
from worker.editor.removal import plan_removal, remove_content
from worker.ingest.feeds import configured_feeds
from worker.ingest.importer import import_file
from worker.ingest.runner import ingest_feeds
from worker.now import process_now
from worker.render.renderer import Renderer


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


@click.group()
def content() -> None:
    """The content editions show: list a week's with ids and slugs, hide a
    launch or a comparison (or show it again), remove a tool or a comparison."""


@content.command("list")
@click.option("--week", help=COMING)
@click.option("--all", "every", is_flag=True, help="Every comparison and tool, of any week.")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(LISTED),
    help="Only this kind (repeatable); default: comparisons and launches "
    "(with --all: comparisons and tools).",
)
@click.option("--hidden", "hidden_only", is_flag=True, help="Only hidden content.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def content_list(
    week: str | None, every: bool, kinds: tuple[str, ...], hidden_only: bool, as_json: bool
) -> None:
    """List a week's comparisons, launches or tools.

    Hidden ones are included, and each has the reference hide and remove
    take (launch:ID, tool:SLUG, comparison:SLUG)."""
    if every and week:
        raise click.UsageError("--all lists every week: leave out --week")
    if every and "launches" in kinds:
        raise click.UsageError("launches belong to a week: --all --kind tools lists every tool")
    settings = load()
    the_week = None if every else coming(settings, week)
    asked = kinds or (("comparisons", "tools") if every else ("comparisons", "launches"))
    with sessions_for(settings)() as session:
        listing = list_content(session, settings, the_week, asked, hidden_only=hidden_only)
    if as_json:
        click.echo(listing_json(listing))
        return
    print_fitted(console, *listing_tables(listing, settings, hidden_only=hidden_only))


@content.command("hide")
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
def content_hide(refs: tuple[str, ...]) -> None:
    """Hide launches or comparisons from every unsent edition.

    REF is launch:ID, launch:SLUG, tool:SLUG, comparison:SLUG, or a slug
    only one of them has. Unsent editions that show them are rebuilt; a
    sending or sent edition keeps its copy."""
    _set_hidden(refs, hidden=True)


@content.command("unhide")
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
def content_unhide(refs: tuple[str, ...]) -> None:
    """Show hidden launches or comparisons again.

    REF as for hide; unsent editions of their weeks are rebuilt with them."""
    _set_hidden(refs, hidden=False)


def _set_hidden(refs: tuple[str, ...], *, hidden: bool) -> None:
    settings = load()
    report = set_hidden(
        sessions_for(settings),
        refs,
        settings,
        Renderer(settings.templates_dir),
        hidden=hidden,
        now=process_now(),
    )
    for done in report.items:
        console.print(escape(hidden_line(done, settings)), highlight=False)
    _say_editions(report.editions)


@content.command("remove")
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option("--yes", is_flag=True, help="Remove without asking.")
def content_remove(refs: tuple[str, ...], yes: bool) -> None:
    """Delete tools or comparisons for good.

    A tool takes its reviews, votes and comparison columns; a comparison its
    columns, not its tools. What goes is said before it goes, and asked. A
    comparison left with fewer than two tools is refused unless it is named
    too. Unsent editions are rebuilt; sent ones keep their copy."""
    settings = load()
    sessions = sessions_for(settings)
    with sessions() as session:
        removal = plan_removal(session, refs, settings)
    for line in removal_lines(removal):
        console.print(escape(line), highlight=False)
    count = len(removal.tools) + len(removal.comparisons)
    if not yes and not click.confirm(f"Remove {'it' if count == 1 else 'them'} for good?"):
        console.print("nothing removed")
        return
    effects = remove_content(sessions, removal, settings, Renderer(settings.templates_dir))
    console.print(escape(f"removed {', '.join(removal.refs)}"), highlight=False)
    _say_editions(effects)


def _say_editions(effects: Sequence[EditionEffect]) -> None:
    """A line per edition, on stderr for one whose rebuild failed (exit 1)."""
    for effect in effects:
        line = escape(edition_line(effect))
        (errors if effect.error else console).print(line, highlight=False)
    if any(effect.error for effect in effects):
        sys.exit(1)
