"""The ``digest`` command: parses, calls one function, prints.

Every command reads its settings from the environment (see
``docs/configuration.md``). Errors meant for a person are printed as one
clear message, without a traceback, and exit with status 1.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, load_settings, redact_url
from worker.errors import DigestError, InputError
from worker.store import make_engine, session_factory, upgrade
from worker.weeks import Week, current_week, parse_week

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn the worker's own errors into one clear message and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DigestError as error:
            _fail(str(error))
        except (OperationalError, ProgrammingError) as error:
            # The driver's own words, never the statement or the URL.
            words = _first_line(error.orig)
            if isinstance(error, ProgrammingError) or words.startswith("no such table"):
                _fail(
                    f"the database schema is missing or out of date ({words}); "
                    "run: digest db upgrade"
                )
            _fail(f"the database is unreachable or refused: {words}")

    return wrapper  # type: ignore[return-value]


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""


def _fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    sys.exit(1)


def _settings() -> Settings:
    return load_settings()


def _warn_before_sending(settings: Settings) -> None:
    """Say what would hurt delivery, before a real send (not the file,
    console or memory outbox)."""
    if settings.mail_url.split(":", 1)[0] in ("file", "console", "memory"):
        return
    if not settings.site_url.startswith("https://"):
        logging.getLogger("worker").warning(
            "SITE_URL is not https: inbox providers ignore a one-click unsubscribe (RFC 8058) "
            "that is not https, and Gmail and Yahoo require one of bulk senders"
        )


def _week(settings: Settings, week: str | None) -> Week:
    return parse_week(week) if week else current_week(settings.timezone)


def _sessions(settings: Settings) -> sessionmaker[Session]:
    return session_factory(make_engine(settings.database_url))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress (INFO) as well as problems.")
def main(verbose: bool) -> None:
    """verdict-digest: the weekly AI tool verdicts newsletter worker."""
    # On a terminal the command's own output says what happened; elsewhere
    # (cron, a platform's log) progress lines are the record.
    level = logging.INFO if verbose or not sys.stderr.isatty() else logging.WARNING
    if sys.stderr.isatty():
        handler: logging.Handler = RichHandler(console=errors, show_path=False)
        logging.basicConfig(level=level, handlers=[handler], format="%(message)s")
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Create the schema or migrate it to the latest revision."""
    settings = _settings()
    upgrade(make_engine(settings.database_url))
    console.print(f"database at {redact_url(settings.database_url)} is up to date")


@main.command()
@click.option(
    "--feeds",
    "feeds_file",
    type=click.Path(path_type=Path),
    help="Feeds file (TOML or YAML); default FEEDS_FILE or feeds.toml.",
)
@reports_errors
def ingest(feeds_file: Path | None) -> None:
    """Fetch the feeds and store their new launches."""
    from worker.feeds import load_feeds_file
    from worker.ingest import ingest_feeds

    settings = _settings()
    feeds = load_feeds_file(feeds_file or settings.feeds_file)
    report = ingest_feeds(_sessions(settings), feeds, settings)
    # Feed text may hold rich [markup]: escaped. Skipped entries were
    # logged one by one as warnings.
    table = Table("feed", "result", "new", "duplicates", "skipped", "error")
    for result in report.feeds:
        table.add_row(
            escape(result.url),
            result.status,
            str(result.new),
            str(result.duplicates),
            str(result.skipped),
            escape(result.error or ""),
        )
    console.print(table)
    if any(r.status == "error" for r in report.feeds):
        sys.exit(2)


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@reports_errors
def import_(path: Path) -> None:
    """Load tools, reviews and comparisons from a YAML or JSON file.

    A file with any bad record imports nothing; every problem is listed.
    """
    from worker.importer import import_file

    settings = _settings()
    summary = import_file(_sessions(settings), path, settings.timezone)
    console.print(
        f"{path}: {summary.tools_added} tools added, {summary.tools_updated} updated, "
        f"{summary.reviews} reviews, {summary.comparisons_added} comparisons added, "
        f"{summary.comparisons_updated} updated"
    )


@main.command()
@click.option("--week", help="ISO week, e.g. 2026-W48; default: this week.")
@reports_errors
def build(week: str | None) -> None:
    """Gather and render the week's edition, once per segment."""
    from worker.editions import build_edition
    from worker.render import Renderer

    settings = _settings()
    result = build_edition(
        _sessions(settings), _week(settings, week), settings, Renderer(settings.templates_dir)
    )
    if result.status == "skipped":
        console.print(f"{result.week}: nothing new this week; edition recorded as skipped")
    elif not result.built:
        console.print(f"{result.week}: edition is {result.status}; left as it is")
    else:
        console.print(
            f"{result.week}: built \u201c{result.subject}\u201d for "
            f"{len(result.segments)} segment(s)"
        )


@main.command()
@click.option("--week", help="ISO week, e.g. 2026-W48; default: this week.")
@reports_errors
def send(week: str | None) -> None:
    """Build the week's edition if needed and send it to every confirmed
    subscriber who has not had it."""
    from worker.deliver import send_edition
    from worker.editions import build_edition
    from worker.mail import backend_from_url
    from worker.render import Renderer

    settings = _settings()
    _warn_before_sending(settings)
    sessions = _sessions(settings)
    the_week = _week(settings, week)
    built = build_edition(sessions, the_week, settings, Renderer(settings.templates_dir))
    if built.status == "skipped":
        console.print(f"{built.week}: nothing new this week; nothing to send")
        return
    stop = threading.Event()
    with _progress(sessions, built.edition_id) as on_batch, _stopping_on_signals(stop):
        report, status = send_edition(
            sessions,
            the_week,
            settings,
            backend_from_url(settings.mail_url),
            on_batch=on_batch,
            stop=stop,
        )
    console.print(
        f"{built.week}: edition {status}; this run: {report.sent} sent, "
        f"{report.deferred} deferred, {report.failed} failed, {report.suppressed} suppressed"
    )


@main.command()
@click.option("--id", "worker_id", help="Worker name in leases; default host:pid.")
@click.option("--once", is_flag=True, help="Exit when nothing is left to claim.")
@reports_errors
def worker(worker_id: str | None, once: bool) -> None:
    """Claim and send deliveries of sending editions until stopped (SIGTERM
    or Ctrl-C finish the batch in hand first)."""
    from worker.deliver import SendReport, Worker
    from worker.mail import backend_from_url

    settings = _settings()
    _warn_before_sending(settings)
    name = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    log = logging.getLogger("worker.deliver")
    started = last = time.monotonic()

    def progress(report: SendReport) -> None:
        # A line every half minute: the record a platform's log keeps.
        nonlocal last
        if time.monotonic() - last >= 30:
            last = time.monotonic()
            log.info(
                "worker %s: %d sent (%.0f/s), %d deferred, %d failed, %d suppressed",
                name,
                report.sent,
                report.sent / (last - started),
                report.deferred,
                report.failed,
                report.suppressed,
            )

    running = Worker(
        _sessions(settings), settings, backend_from_url(settings.mail_url), name, on_batch=progress
    )
    log.info("worker %s started", name)
    with _stopping_on_signals(running.stop):
        report = running.run(until_idle=once)
    console.print(
        f"worker {name}: {report.sent} sent, {report.deferred} deferred, "
        f"{report.failed} failed, {report.suppressed} suppressed in {report.batches} batches"
    )


@main.command()
@click.option("--week", help="ISO week, e.g. 2026-W48; default: this week.")
@reports_errors
def status(week: str | None) -> None:
    """An edition's deliveries by state, and its send rate."""
    from worker.editions import edition_counts, find_edition

    settings = _settings()
    sessions = _sessions(settings)
    the_week = _week(settings, week)
    with sessions() as session:
        edition = find_edition(session, settings.list_id, str(the_week))
    if edition is None:
        console.print(f"{the_week}: no edition yet")
        return
    counts = edition_counts(sessions, edition.id)
    table = Table("edition", "status", "queued", "sent", "deferred", "failed", "suppressed", "rate")
    rate = counts.rate()
    table.add_row(
        counts.week,
        counts.status,
        *(str(n) for n in (counts.queued, counts.sent, counts.deferred, counts.failed)),
        str(counts.suppressed),
        f"{rate:,.0f}/s" if rate else "—",
    )
    console.print(table)


def _control(action: str) -> Callable[[str | None], None]:
    @reports_errors
    def command(week: str | None) -> None:
        from worker.editions import cancel_edition, set_paused

        settings = _settings()
        sessions = _sessions(settings)
        the_week = _week(settings, week)
        if action == "cancel":
            counts = cancel_edition(sessions, the_week, settings)
            console.print(f"{the_week}: cancelled; {counts.pending} deliveries left unsent")
        else:
            state = set_paused(sessions, the_week, settings, paused=action == "pause")
            console.print(f"{the_week}: {state}")

    return command


for _action, _help in (
    ("pause", "Pause a sending edition: workers stop at their next claim."),
    ("resume", "Resume a paused edition."),
    ("cancel", "Cancel an edition for good; unsent deliveries stay unsent."),
):
    main.command(_action, help=_help)(
        click.option("--week", help="ISO week, e.g. 2026-W48; default: this week.")(
            _control(_action)
        )
    )


@contextlib.contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (a platform's restart) or Ctrl-C: finish the batch in hand,
    record it, and return. A second Ctrl-C stops at once."""

    def first(signum: int, _frame: object) -> None:
        stop.set()
        logging.getLogger("worker.deliver").warning(
            "%s: finishing the batch in hand, then stopping", signal.Signals(signum).name
        )
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {signum: signal.signal(signum, first) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _progress(sessions: sessionmaker[Session], edition_id: int) -> Iterator[Callable[..., None]]:
    """A rich progress bar on a terminal, a log line every few seconds
    otherwise. Counting is one query, so it runs at most that often."""
    from worker.editions import edition_counts

    every = 0.5 if console.is_terminal else 5.0
    started = last = time.monotonic()
    first_done: int | None = None

    def measure() -> tuple[int, int, float] | None:
        nonlocal last, first_done
        if time.monotonic() - last < every:
            return None
        last = time.monotonic()
        counts = edition_counts(sessions, edition_id)
        done = counts.total - counts.pending
        if first_done is None:
            first_done = done - counts.sent  # what was settled before this run
        rate = (counts.sent - (first_done or 0)) / max(last - started, 1e-6)
        return done, counts.total, rate

    if not console.is_terminal:

        def log_line(_report: object) -> None:
            measured = measure()
            if measured:
                done, total, rate = measured
                logging.getLogger("worker.deliver").info(
                    "edition %d: %d of %d done, %.0f/s", edition_id, done, total, rate
                )

        yield log_line
        return
    with Progress(
        TextColumn("[bold]sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("send", total=None, rate="")

        def advance(_report: object) -> None:
            measured = measure()
            if measured:
                done, total, rate = measured
                bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}/s")

        yield advance


@main.group()
def subscribers() -> None:
    """The subscriber list."""


@subscribers.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--status",
    type=click.Choice(["confirmed", "pending"]),
    default="confirmed",
    show_default=True,
    help="Consent state of new subscribers (use confirmed only for opted-in lists).",
)
@reports_errors
def subscribers_import(path: Path, status: str) -> None:
    """Load subscribers from a CSV file (email, name, categories separated by ';')."""
    from subscribers.csvio import import_csv
    from worker.store.models import SubscriberStatus

    settings = _settings()
    report = import_csv(_sessions(settings), path, SubscriberStatus(status))
    console.print(f"{path}: {report.added} added, {report.merged} merged")
    if report.rejected:
        raise InputError(f"{path}: rows rejected (the others were imported)", report.rejected)


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Where the demo's store, outbox and preview go (emptied first).",
)
@click.option("--week", default=None, help="ISO week to send; default: the sample data's week.")
@reports_errors
def demo(directory: Path, week: str | None) -> None:
    """The whole job on the embedded default: fresh SQLite store, sample
    data and feeds, sample subscribers, the week's edition sent to a file
    outbox, and an HTML preview."""
    from worker.demo import SAMPLE_WEEK, run_demo

    result = run_demo(directory, parse_week(week) if week else SAMPLE_WEEK, console)
    console.print()
    console.print(f"[bold]Outbox[/]:  {result.outbox} ({result.messages} .eml files)")
    console.print(f"[bold]Preview[/]: {result.preview_html}")
    console.print(f"[bold]Text[/]:    {result.preview_text}")
