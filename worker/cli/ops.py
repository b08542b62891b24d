"""``digest status``, ``digest report`` and ``digest check``: what an operator reads."""

import dataclasses
import json
import os
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from worker.cli.common import (
    console,
    load,
    sessions_for,
)
from worker.cli.tables import print_fitted
from worker.config import Settings
from worker.deliver.editions import edition_counts, find_edition
from worker.domain.weeks import Week, parse_week
from worker.now import process_now
from worker.ops import report as edition_report
from worker.ops import status as report
from worker.ops.checks import Level, check_environment
from worker.ops.report_html import ReportPage
from worker.ops.waves import edition_waves


@click.command()
@click.option("--week", help="Only this ISO week's edition (e.g. 2026-W48): counts and rate.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(week: str | None, as_json: bool) -> None:
    """The schedule in local time, the last editions with their counts, the
    feeds with their last error, and whether the mail backend answers; with
    --week, one edition's deliveries by state and its send rate."""
    settings = load()
    sessions = sessions_for(settings)
    if week is not None:
        _edition_status(sessions, settings, parse_week(week), as_json)
        return
    found = report.status_report(sessions, settings, process_now())
    if as_json:
        print(report.as_json(found))
    else:
        print_fitted(console, *report.tables(found))


def _edition_status(
    sessions: sessionmaker[Session], settings: Settings, week: Week, as_json: bool
) -> None:
    with sessions() as session:
        edition = find_edition(session, settings.list_id, str(week))
    if edition is None:
        if as_json:
            print(json.dumps({"week": str(week), "status": None}))
        else:
            console.print(f"{week}: no edition yet")
        return
    counts = edition_counts(sessions, edition.id)
    with sessions() as session:
        waves = edition_waves(session, settings, edition)
    rate = counts.rate
    if as_json:
        figures = dataclasses.asdict(counts) | {"waves": [dataclasses.asdict(w) for w in waves]}
        print(json.dumps(figures, default=lambda moment: moment.isoformat()))
        return
    table = Table("edition", "status", "queued", "sent", "deferred", "failed", "suppressed", "rate")
    table.add_row(
        counts.week,
        counts.status,
        *(str(n) for n in (counts.queued, counts.sent, counts.deferred, counts.failed)),
        str(counts.suppressed),
        f"{rate:,.0f}/s" if rate else "—",
    )
    print_fitted(console, table)
    if waves:
        print_fitted(console, report.waves_table(counts.week, waves, settings.timezone))


@click.command("report")
@click.option("--week", help="The edition of this ISO week (default: the latest that went out).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the report as one HTML page with its charts to this file.",
)
def report_command(week: str | None, as_json: bool, html_file: Path | None) -> None:
    """What an edition did: its deliveries, bounces, complaints,
    unsubscribes and votes, the clicks on its links per item, and the trend
    of the last twelve editions. Counted per edition and item, never per
    reader."""
    settings = load()
    found = edition_report.edition_report(
        sessions_for(settings), settings, parse_week(week) if week else None
    )
    if html_file is not None:
        page = ReportPage(settings.templates_dir).render(found, process_now())
        html_file.write_text(page, encoding="utf-8")
    if as_json:
        print(edition_report.as_json(found))
        return
    print_fitted(console, *edition_report.tables(found))
    if html_file is not None:
        console.print(f"wrote {escape(str(html_file))}", highlight=False)


@click.command()
def check() -> None:
    """Check the environment: database, mail backend, production settings,
    postal address, feeds file, sender, time zone. One line per check;
    exit status 1 if any is an error."""
    findings = check_environment(os.environ, process_now())
    for finding in findings:
        style = {Level.OK: "green", Level.WARNING: "yellow", Level.ERROR: "bold red"}
        console.print(
            f"[{style[finding.level]}]{finding.level.value:<7}[/] "
            f"{escape(finding.subject)}: {escape(finding.message)}",
            highlight=False,
        )
    if any(f.level == Level.ERROR for f in findings):
        sys.exit(1)
