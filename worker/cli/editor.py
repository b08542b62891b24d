"""What editors run: the live preview, the lint and the demo."""

import signal
import sys
from pathlib import Path

import click

from worker.cli.common import (
    COMING,
    EDITION,
    SAMPLE,
    SEGMENT,
    coming,
    console,
    fail,
    load,
    sessions_for,
)
from worker.domain.segments import parse_segment
from worker.domain.weeks import parse_week
from worker.editor import lint_report
from worker.editor.demo import run_demo
from worker.editor.editionfile import file_week
from worker.editor.lint.rules import has_errors
from worker.editor.live import LivePreview, snapshot
from worker.editor.page import PageRenderer, write_static
from worker.editor.preview import lint_edition
from worker.editor.sample import SAMPLE_WEEK, SampleStore
from worker.editor.server import serving
from worker.editor.source import week_source
from worker.ops.report_html import page_maker
from worker.render.renderer import Renderer
from worker.signals import stopping_on_signals


@click.command()
@click.option("--week", help=COMING)
@click.option("--segment", help=SEGMENT)
@click.option("--sample", is_flag=True, help=SAMPLE + " Reloaded when a sample file changes.")
@click.option(
    "--edition",
    "edition_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=EDITION + " Read again when saved.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8025,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free one).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the page and the message's parts into this folder, and exit.",
)
def preview(
    week: str | None,
    segment: str | None,
    sample: bool,
    edition_path: Path | None,
    port: int,
    out: Path | None,
) -> None:
    """Show the coming edition as a subscriber gets it, on 127.0.0.1: desktop
    and phone frames, dark mode, the text part, headers and lint; it
    reloads itself when a template, the sample data, the edition file or
    the store changes."""
    settings = load()
    named = file_week(edition_path) if edition_path else None
    the_week = coming(settings, week, named or (SAMPLE_WEEK if sample else None))
    key = parse_segment(segment)

    def interrupted(_signum: signal.Signals, _again: bool) -> None:
        raise KeyboardInterrupt

    # SIGTERM as Ctrl-C, from the first moment: whatever is under way (the
    # sample loading, SpamAssassin) stops, and the scratch store goes.
    scratch: SampleStore | None = None
    live: LivePreview | None = None
    try:
        with stopping_on_signals(interrupted) as stop:
            scratch = SampleStore(settings) if sample else None
            live = LivePreview(
                settings, the_week, sample=scratch, segment=key, edition_path=edition_path
            )
            pages = PageRenderer(settings.templates_dir)
            if stop.is_set():  # its exception swallowed where it landed (a GC callback)
                raise KeyboardInterrupt
            if out is not None:
                payload, shown = snapshot(live, key)
                if shown is None:
                    fail(payload["error"])
                written = write_static(out, shown, payload, pages)
                console.print(f"{the_week}: preview written to {written[0]}")
                return
            report = None if sample else page_maker(sessions_for(settings), settings, the_week)
            with serving(live, pages, port, report) as server:
                console.print(f"{the_week}: preview at {server.url} (Ctrl-C stops)")
                stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.close()
        elif scratch is not None:
            scratch.close()
    console.print("preview stopped")


@click.command()
@click.option("--week", help=COMING)
@click.option("--segment", help=SEGMENT + " Default: every segment.")
@click.option("--sample", is_flag=True, help=SAMPLE)
@click.option(
    "--edition",
    "edition_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=EDITION,
)
@click.option("--check-links", is_flag=True, help="Fetch every link (HEAD, else GET).")
@click.option("--no-spam", is_flag=True, help="Skip SpamAssassin (about a second a segment).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
def lint(
    week: str | None,
    segment: str | None,
    sample: bool,
    edition_path: Path | None,
    check_links: bool,
    no_spam: bool,
    as_json: bool,
) -> None:
    """Check the coming edition as an inbox would: size, images, links,
    unsubscribe, postal address, preview text, subject, text part, spam
    score, and the edition file's intro. Exits 1 when there are errors."""
    settings = load()
    named = file_week(edition_path) if edition_path else None
    the_week = coming(settings, week, named or (SAMPLE_WEEK if sample else None))
    with week_source(settings, the_week, sample=sample, edition_path=edition_path) as source:
        segments = [parse_segment(segment)] if segment is not None else list(source.segments)
        result = lint_edition(
            source,
            segments,
            Renderer(settings.templates_dir),
            settings,
            spam=not no_spam,
            links=check_links,
        )
    if as_json:
        click.echo(lint_report.as_json(result, the_week))
    else:
        for line in lint_report.lines(result, the_week, links_checked=check_links):
            console.print(line, highlight=False)
        console.print(lint_report.summary(result))
    if has_errors(result.findings):
        sys.exit(1)


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Where the demo's store, outbox and preview go (emptied first).",
)
@click.option("--week", default=None, help="ISO week to send; default: the sample data's week.")
def demo(directory: Path, week: str | None) -> None:
    """The whole job on the embedded default: fresh SQLite store, sample
    data and feeds, sample subscribers, the week's edition sent to a file
    outbox, and an HTML preview."""
    result = run_demo(directory, parse_week(week) if week else SAMPLE_WEEK, console)
    console.print()
    console.print(f"[bold]Outbox[/]:  {result.outbox} ({result.messages} .eml files)")
    console.print(f"[bold]Preview[/]: {result.preview_html}")
    console.print(f"[bold]Text[/]:    {result.preview_text}")
    store = f"sqlite:///{(directory / 'digest.sqlite3').resolve()}"
    console.print(
        f"[bold]Pages[/]:   DATABASE_URL={store} .venv/bin/digest web  "
        "(subscribe, the archive, the counted links; the .eml links point at "
        "http://localhost:5000)",
        highlight=False,
    )
