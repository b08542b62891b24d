"""The ``digest`` command: parses, calls one function, prints.

Every command reads its settings from the environment (see
``docs/configuration.md``). Errors meant for a person are printed as one
clear message, without a traceback, and exit with status 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import getpass
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, load_settings, redact_url
from worker.errors import DigestError, InputError
from worker.segments import parse_segment, segment_label
from worker.signals import on_stop_signals
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import (
    SubscriberStatus,
    SuppressionReason,
)
from worker.weeks import Week, last_complete_week, parse_week

if TYPE_CHECKING:
    from subscribers.csvio import Exported
    from subscribers.mailboxes import MailboxReport
    from worker.preview import WeekSource

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
    # The message may quote input ("[/x]@example.com"): never read as markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
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


_LAST_WEEK = "ISO week, e.g. 2026-W48; default: last week, the edition the schedule builds now."
_COMING = "ISO week, e.g. 2026-W48; default: the edition of the coming send."
_SEGMENT = (
    "Segment: its categories, separated by commas (e.g. 'Design, Productivity'); "
    "default: every category."
)
_SAMPLE = (
    "Use the sample data (sample/) in a scratch store instead of DATABASE_URL; "
    "the week defaults to the sample's."
)


def _week(settings: Settings, week: str | None) -> Week:
    # The clock's rule: an edition covers the last complete week.
    return parse_week(week) if week else last_complete_week(_utcnow(), settings.timezone)


def _sessions(settings: Settings) -> sessionmaker[Session]:
    return session_factory(make_engine(settings.database_url))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress (INFO) as well as problems.")
def main(verbose: bool) -> None:
    """verdict-digest: the weekly AI tool verdicts newsletter worker."""
    from worker.logs import configure_logging

    # Readable lines on a terminal, JSON lines elsewhere (docs/observability.md).
    try:
        configure_logging(verbose=verbose, console=errors)
    except DigestError as error:
        _fail(str(error))


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
    from worker.feeds import configured_feeds
    from worker.ingest import ingest_feeds

    settings = _settings()
    feeds = configured_feeds(settings, feeds_file)
    if not feeds:
        console.print("no feeds configured: content comes by digest import")
        return
    report = ingest_feeds(_sessions(settings), feeds, settings)
    # Feed text may hold rich [markup]: escaped. Skipped entries were
    # logged one by one as warnings.
    table = Table("feed", "result", "new", "duplicates", "skipped", "error")
    for result in report.feeds:
        table.add_row(
            escape(redact_url(result.url)),
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
@click.option("--week", help=_LAST_WEEK)
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
@click.option("--week", help=_LAST_WEEK + " With --test: the edition of the coming send.")
@click.option(
    "--test",
    is_flag=True,
    help="Send the edition to --to only, marked as a test ([TEST], X-Digest-Test); "
    "no deliveries are made.",
)
@click.option(
    "--to", "to", multiple=True, metavar="ADDRESS", help="With --test: who gets it (repeatable)."
)
@click.option("--segment", help=_SEGMENT)
@click.option("--sample", is_flag=True, help=_SAMPLE)
@reports_errors
def send(
    week: str | None, test: bool, to: tuple[str, ...], segment: str | None, sample: bool
) -> None:
    """Build the week's edition if needed and send it to every confirmed
    subscriber who has not had it; with --test, to --to only."""
    from worker.deliver import send_edition
    from worker.editions import build_edition
    from worker.mail import backend_from_url
    from worker.render import Renderer

    settings = _settings()
    if test or to or segment or sample:
        if not (test and to):
            _fail("--to, --segment and --sample go with --test, and --test needs --to ADDRESS")
        _send_test(settings, week, to, segment, sample)
        return
    _warn_before_sending(settings)
    sessions = _sessions(settings)
    the_week = _week(settings, week)
    built = build_edition(sessions, the_week, settings, Renderer(settings.templates_dir))
    if built.status == "skipped":
        console.print(f"{built.week}: nothing new this week; nothing to send")
        return
    stop = threading.Event()
    with _progress(sessions, built.edition_id, built.week) as on_batch, _stopping_on_signals(stop):
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


def _send_test(
    settings: Settings, week: str | None, to: tuple[str, ...], segment: str | None, sample: bool
) -> None:
    from subscribers.roster import InvalidField, normalise_email
    from worker.compose import Recipient
    from worker.mail import backend_from_url
    from worker.mail.base import Outcome
    from worker.preview import compose_preview
    from worker.render import Renderer

    addresses = []
    for address in to:
        try:
            addresses.append(normalise_email(address))
        except InvalidField as error:
            _fail(f"--to: {error}")
    key = parse_segment(segment)
    backend = backend_from_url(settings.mail_url)
    with _preview_source(settings, week, sample) as (source, the_week):
        renderer = Renderer(settings.templates_dir)
        messages = [
            compose_preview(
                source,
                key,
                renderer,
                settings,
                recipient=Recipient(0, address, None),
                test=True,
                with_fields=backend.wants_fields,
            ).message
            for address in addresses
        ]
    with backend:
        results = backend.send_batch(messages)
    failed = 0
    for address, result in zip(addresses, results, strict=True):
        if result.outcome == Outcome.ACCEPTED:
            console.print(f"{the_week}: test for {segment_label(key)} sent to {address}")
        else:
            failed += 1
            errors.print(
                f"{the_week}: test to {address} not sent: {result.outcome} "
                f"{result.code or ''} {result.text}".rstrip(),
                markup=False,
                highlight=False,
            )
    if failed:
        sys.exit(1)


@contextlib.contextmanager
def _preview_source(
    settings: Settings, week: str | None, sample: bool
) -> Iterator[tuple[WeekSource, Week]]:
    """The week a preview, lint or test send is of, read from the store
    (or from the sample data in a scratch store)."""
    from worker.preview import read_week
    from worker.sample import SAMPLE_WEEK, SampleStore

    scratch = SampleStore(settings) if sample else None
    sessions = None
    try:
        sessions = scratch.load() if scratch else _sessions(settings)
        the_week = SAMPLE_WEEK if sample and not week else _coming(settings, week)
        with sessions() as session:
            source = read_week(session, the_week, settings)
        yield source, the_week
    finally:
        if scratch:
            scratch.close()
        elif sessions is not None:
            sessions.kw["bind"].dispose()


@main.command()
@click.option("--week", help=_COMING)
@click.option("--segment", help=_SEGMENT)
@click.option("--sample", is_flag=True, help=_SAMPLE + " Reloaded when a sample file changes.")
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
@reports_errors
def preview(
    week: str | None, segment: str | None, sample: bool, port: int, out: Path | None
) -> None:
    """Show the coming edition as a subscriber gets it, on 127.0.0.1: desktop
    and phone frames, dark mode, the text part, headers and lint; it
    reloads itself when a template, the sample data or the store changes."""
    from worker.preview_page import PageRenderer, write_static
    from worker.preview_server import LivePreview, serving, snapshot
    from worker.sample import SAMPLE_WEEK, SampleStore

    settings = _settings()
    the_week = SAMPLE_WEEK if sample and not week else _coming(settings, week)
    key = parse_segment(segment)

    stop = threading.Event()

    def interrupted(_signum: int, _frame: object) -> None:
        stop.set()  # kept, should the exception land where it is swallowed (a GC callback)
        raise KeyboardInterrupt

    # SIGTERM as Ctrl-C, from the first moment: whatever is under way (the
    # sample loading, SpamAssassin) stops, and the scratch store goes.
    scratch: SampleStore | None = None
    live: LivePreview | None = None
    try:
        with on_stop_signals(interrupted):
            scratch = SampleStore(settings) if sample else None
            live = LivePreview(settings, the_week, sample=scratch, segment=key)
            pages = PageRenderer(settings.templates_dir)
            if stop.is_set():
                raise KeyboardInterrupt
            if out is not None:
                payload, shown = snapshot(live, key)
                if shown is None:
                    _fail(payload["error"])
                written = write_static(out, shown, payload, pages)
                console.print(f"{the_week}: preview written to {written[0]}")
                return
            with serving(live, pages, port) as server:
                console.print(f"{the_week}: preview at {server.url} (Ctrl-C stops)")
                stop.wait()
    except KeyboardInterrupt:
        console.print("preview stopped")
    finally:
        if live is not None:
            live.close()
        elif scratch is not None:
            scratch.close()


@main.command()
@click.option("--week", help=_COMING)
@click.option("--segment", help=_SEGMENT + " Default: every segment.")
@click.option("--sample", is_flag=True, help=_SAMPLE)
@click.option("--check-links", is_flag=True, help="Fetch every link (HEAD, else GET).")
@click.option("--no-spam", is_flag=True, help="Skip SpamAssassin (about a second a segment).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@reports_errors
def lint(
    week: str | None,
    segment: str | None,
    sample: bool,
    check_links: bool,
    no_spam: bool,
    as_json: bool,
) -> None:
    """Check the coming edition as an inbox would: size, images, links,
    unsubscribe, postal address, preview text, subject, text part, spam
    score. Exits 1 when there are errors."""
    from worker.lint import Level, has_errors
    from worker.preview import lint_edition
    from worker.preview_page import finding_json
    from worker.render import Renderer

    settings = _settings()
    with _preview_source(settings, week, sample) as (source, the_week):
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
        document = {
            "week": str(the_week),
            "segments": [
                {
                    "segment": s.segment,
                    "label": segment_label(s.segment),
                    "nothing": s.nothing,
                    "findings": [finding_json(f) for f in s.findings],
                }
                for s in result.segments
            ],
            "links": [finding_json(f) for f in result.links],
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        colours = {Level.ERROR: "bold red", Level.WARNING: "yellow", Level.INFO: "dim"}
        sections = [(segment_label(s.segment), s.findings, s.nothing) for s in result.segments]
        if check_links:
            sections.append(("links of every segment", result.links, None))
        for label, findings, nothing in sections:
            console.print(f"[bold]{the_week} · {escape(label)}[/]", highlight=False)
            if nothing:
                console.print(f"  {escape(nothing)}", style="dim", highlight=False)
            for f in findings:
                console.print(
                    f"  [{colours[f.level]}]{f.level:<7}[/] {f.check}: {escape(f.message)}",
                    highlight=False,
                )
        every = result.findings
        count = {level: sum(f.level == level for f in every) for level in Level}
        console.print(
            f"{count[Level.ERROR]} error(s), {count[Level.WARNING]} warning(s) "
            f"in {len(result.segments)} segment(s)"
        )
    if has_errors(result.findings):
        sys.exit(1)


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
                "worker progress",
                extra={
                    "worker": name,
                    "sent": report.sent,
                    "rate": round(report.sent / (last - started), 1),
                    "deferred": report.deferred,
                    "failed": report.failed,
                    "suppressed": report.suppressed,
                },
            )

    running = Worker(
        _sessions(settings), settings, backend_from_url(settings.mail_url), name, on_batch=progress
    )
    log.info("worker started", extra={"worker": name})
    with _stopping_on_signals(running.stop):
        report = running.run(until_idle=once)
    console.print(
        f"worker {name}: {report.sent} sent, {report.deferred} deferred, "
        f"{report.failed} failed, {report.suppressed} suppressed in {report.batches} batches"
    )


@main.command()
@click.option("--week", help="Only this ISO week's edition (e.g. 2026-W48): counts and rate.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@reports_errors
def status(week: str | None, as_json: bool) -> None:
    """The schedule in local time, the last editions with their counts, the
    feeds with their last error, and whether the mail backend answers; with
    --week, one edition's deliveries by state and its send rate."""
    from worker import status as report

    settings = _settings()
    sessions = _sessions(settings)
    if week is not None:
        _edition_status(sessions, settings, parse_week(week), as_json)
        return
    found = report.status_report(sessions, settings, _utcnow())
    if as_json:
        print(report.as_json(found))
    else:
        wide = console if console.is_terminal else Console(width=report.WIDTH, soft_wrap=True)
        wide.print(*report.tables(found))


def _edition_status(
    sessions: sessionmaker[Session], settings: Settings, week: Week, as_json: bool
) -> None:
    from worker.editions import edition_counts, find_edition

    with sessions() as session:
        edition = find_edition(session, settings.list_id, str(week))
    if edition is None:
        if as_json:
            print(json.dumps({"week": str(week), "status": None}))
        else:
            console.print(f"{week}: no edition yet")
        return
    counts = edition_counts(sessions, edition.id)
    rate = counts.rate()
    if as_json:
        figures = {**dataclasses.asdict(counts), "rate": rate}
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
    console.print(table)


@main.command()
@reports_errors
def check() -> None:
    """Check the environment: database, mail backend, production settings,
    postal address, feeds file, sender, time zone. One line per check;
    exit status 1 if any is an error."""
    from worker.checks import Level, check_environment

    findings = check_environment(os.environ, _utcnow())
    for finding in findings:
        style = {Level.OK: "green", Level.WARNING: "yellow", Level.ERROR: "bold red"}
        console.print(
            f"[{style[finding.level]}]{finding.level.value:<7}[/] "
            f"{escape(finding.subject)}: {escape(finding.message)}",
            highlight=False,
        )
    if any(f.level == Level.ERROR for f in findings):
        sys.exit(1)


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
    main.command(_action, help=_help)(click.option("--week", help=_LAST_WEEK)(_control(_action)))


@main.command()
@reports_errors
def clock() -> None:
    """The one scheduler: ingest, build, send, retry sweep and pruning at
    their times; a second clock waits until the first stops. SIGTERM or
    Ctrl-C stop it."""
    from worker.clock import Clock, stopping_on_signals

    settings = _settings()
    running = Clock(_sessions(settings), settings)
    with stopping_on_signals(running):
        status = running.run()
    if running.busy:
        # A job still under way must not keep the process past a
        # platform's 25 seconds; its transaction is rolled back.
        logging.shutdown()
        os._exit(status)
    sys.exit(status)


@main.command()
@reports_errors
def tick() -> None:
    """Cron mode: do what is due now (ingest, build, start the send and
    send it, retries, pruning) and exit. Safe to run every minute, and
    twice at once."""
    from worker.jobs import tick as run_tick
    from worker.mail import backend_from_url

    settings = _settings()
    _warn_before_sending(settings)
    stop = threading.Event()
    backend = backend_from_url(settings.mail_url)
    with _stopping_on_signals(stop):
        report = run_tick(_sessions(settings), settings, backend, _utcnow(), stop=stop)
    done = []
    if report.ingested is not None:
        feeds = report.ingested.feeds
        done.append(f"{len(feeds)} feeds ingested ({report.ingested.new} new launches)")
    done += [f"{built.week} built ({built.status})" for built in report.built]
    if report.started is not None:
        done.append(f"{report.started.week} sending")
    if report.waiting:
        done.append(f"send waits: {report.waiting}")
    if report.sent:
        done.append(f"{report.sent} sent")
    done += [f"{week} sent in full" for week in report.finished]
    if report.pruned:
        done.append(f"{report.pruned} old fetch log rows pruned")
    console.print(escape("; ".join(done) or "nothing due"), highlight=False)
    if report.failed:
        _fail("; ".join(report.failed))


_BY = "Who does it, recorded on the edition; default: your user name."


@main.command()
@click.option("--week", help=_COMING)
@click.option("--by", help=_BY)
@reports_errors
def approve(week: str | None, by: str | None) -> None:
    """Approve a built edition for sending (the clock waits for it when
    DIGEST_REQUIRE_APPROVAL is on). Approving does not release a hold."""
    from worker.approvals import approve_edition

    settings = _settings()
    marks = approve_edition(
        _sessions(settings), _coming(settings, week), settings, by or _user(), _utcnow()
    )
    console.print(
        f"{marks.week}: approved by {escape(marks.approved_by or '')} "
        f"at {_local(settings, marks.approved_at)}",
        highlight=False,
    )
    if marks.held_at is not None:
        console.print(
            f"{marks.week}: still held by {escape(marks.held_by or '')}; approving does not "
            "release a hold: digest hold --release does",
            highlight=False,
        )


@main.command()
@click.option("--week", help=_COMING)
@click.option("--by", help=_BY)
@click.option("--release", is_flag=True, help="Release the hold instead.")
@reports_errors
def hold(week: str | None, by: str | None, release: bool) -> None:
    """Hold a built edition: nothing sends it (neither the clock nor
    digest send) until it is released with --release."""
    from worker.approvals import hold_edition, release_edition

    settings = _settings()
    sessions, the_week = _sessions(settings), _coming(settings, week)
    if release:
        marks = release_edition(sessions, the_week, settings, by or _user())
        console.print(f"{marks.week}: hold released", highlight=False)
        return
    marks = hold_edition(sessions, the_week, settings, by or _user(), _utcnow())
    console.print(
        f"{marks.week}: held by {escape(marks.held_by or '')} at {_local(settings, marks.held_at)}",
        highlight=False,
    )


def _coming(settings: Settings, week: str | None) -> Week:
    from worker.schedule import coming_week

    return parse_week(week) if week else coming_week(settings, _utcnow())


def _local(settings: Settings, moment: datetime | None) -> str:
    return f"{moment.astimezone(settings.timezone):%Y-%m-%d %H:%M %Z}" if moment else "—"


def _user() -> str:
    """The OS user running the command (what --by defaults to)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name and no passwd entry (a bare container)
        return f"uid {os.getuid()}"


@contextlib.contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (a platform's restart) or Ctrl-C: finish the batch in hand,
    record it, and return. A second Ctrl-C stops at once."""

    def first(signum: int, _frame: object) -> None:
        stop.set()
        logging.getLogger("worker.deliver").warning(
            "%s: finishing the batch in hand, then stopping",
            signal.Signals(signum).name,
            extra={"signal": signal.Signals(signum).name},
        )
        signal.signal(signal.SIGINT, signal.default_int_handler)

    with on_stop_signals(first):
        yield


@contextlib.contextmanager
def _progress(
    sessions: sessionmaker[Session], edition_id: int, week: str
) -> Iterator[Callable[..., None]]:
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
                    "send progress",
                    extra={"edition": week, "done": done, "total": total, "rate": round(rate, 1)},
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
    suppressed = f", {report.suppressed} suppressed" if report.suppressed else ""
    held = f", {len(report.held_back)} held back" if report.held_back else ""
    console.print(f"{path}: {report.added} added, {report.merged} merged{suppressed}{held}")
    for line in report.held_back:
        console.print(escape(line), highlight=False)
    if report.rejected:
        raise InputError(f"{path}: rows rejected (the others were imported)", report.rejected)


@subscribers.command("add")
@click.argument("email")
@click.option("--name", help="Display name.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="A category to receive (repeat for more); none: every category.",
)
@click.option(
    "--pending",
    is_flag=True,
    help="Store unconfirmed and send the confirmation email (double opt-in).",
)
@reports_errors
def subscribers_add(
    email: str, name: str | None, categories: tuple[str, ...], pending: bool
) -> None:
    """Add a subscriber: confirmed (you vouch for their consent), or with
    --pending unconfirmed, sent the confirmation email the subscribe form
    sends.

    Someone already on the list is left as they are; a suppressed address is
    refused.
    """
    from subscribers.admin import add_subscriber

    settings = _settings()
    with _sessions(settings).begin() as session:
        added = add_subscriber(
            session, email, name, list(categories), confirmed=not pending, now=_utcnow()
        )
    who = escape(added.email)
    if not added.added:
        console.print(f"{who}: already on the list ({added.status}); left as it is")
        return
    console.print(f"{who}: added, {added.status}, {segment_label(added.categories)}")
    if pending:
        _send_confirmation(settings, added.subscriber_id, added.email, added.name)
        console.print(f"{who}: confirmation email sent")


def _send_confirmation(
    settings: Settings, subscriber_id: int, email: str, name: str | None
) -> None:
    from worker.compose import Recipient
    from worker.notices import NoticeNotSent, confirm_notice, send_notice
    from worker.render import Renderer

    notice = confirm_notice(settings, subscriber_id, email)
    recipient = Recipient(subscriber_id, email, name)
    try:
        send_notice(settings, Renderer(settings.templates_dir), notice, recipient)
    except NoticeNotSent as error:
        raise DigestError(
            f"{email}: added as pending, but the confirmation email was not sent ({error}); "
            "they can subscribe on the site to get another"
        ) from None


@subscribers.command("remove")
@click.argument("email")
@click.option(
    "--delete",
    "erase",
    is_flag=True,
    help="Delete the row (with its votes and deliveries) instead of unsubscribing; "
    "the address stays on the suppression list.",
)
@reports_errors
def subscribers_remove(email: str, erase: bool) -> None:
    """Unsubscribe a subscriber at once (--delete: erase them, keeping only
    the address, on the suppression list, so no import brings them back)."""
    from subscribers.admin import Removal, remove_subscriber

    settings = _settings()
    with _sessions(settings).begin() as session:
        done = remove_subscriber(session, email, erase=erase, now=_utcnow())
    who = escape(email.strip())
    if done == Removal.ALREADY_GONE:
        console.print(f"{who}: already unsubscribed or bounced; nothing changed")
    else:
        console.print(f"{who}: {done}")


@subscribers.command("suppress")
@click.argument("email")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in SuppressionReason]),
    default=SuppressionReason.MANUAL.value,
    show_default=True,
)
@click.option("--detail", help="A note kept with the suppression.")
@reports_errors
def subscribers_suppress(email: str, reason: str, detail: str | None) -> None:
    """Put an address on the suppression list: no send reaches it again."""
    from subscribers.admin import suppress_address

    settings = _settings()
    with _sessions(settings).begin() as session:
        address, earlier = suppress_address(session, email, SuppressionReason(reason), detail)
    if earlier is None:
        console.print(f"{escape(address)}: suppressed")
    else:
        console.print(f"{escape(address)}: already suppressed ({earlier}); kept as it was")


@subscribers.command("unsuppress")
@click.argument("email")
@reports_errors
def subscribers_unsuppress(email: str) -> None:
    """Take an address off the suppression list (it is not resubscribed)."""
    from subscribers.admin import unsuppress_address

    settings = _settings()
    with _sessions(settings).begin() as session:
        address = unsuppress_address(session, email)
    console.print(f"{escape(address)}: no longer suppressed")


@subscribers.command("export")
@click.argument("destination", default="-", metavar="[FILE|-]")
@click.option(
    "--status",
    type=click.Choice([s.value for s in SubscriberStatus]),
    help="Only subscribers in this state.",
)
@reports_errors
def subscribers_export(destination: str, status: str | None) -> None:
    """Write the subscribers as CSV to FILE (readable by you only), or to
    standard output with - (the default). Spreadsheet formulas are defused."""
    from subscribers.csvio import export_csv

    settings = _settings()
    wanted = SubscriberStatus(status) if status else None
    with _sessions(settings)() as session:
        if destination == "-":
            count = export_csv(session, sys.stdout, status=wanted)
            errors.print(f"{_exported(count)} exported", highlight=False)
            return
        path = Path(destination)
        partial = path.with_name(f".{path.name}.partial")
        try:
            # Personal data: the file is its owner's alone, and appears
            # whole or not at all.
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "w", newline="", encoding="utf-8") as out:
                count = export_csv(session, out, status=wanted)
            partial.replace(path)
        except OSError as error:
            raise DigestError(f"{path}: cannot write: {error.strerror}") from None
        finally:
            partial.unlink(missing_ok=True)
    console.print(f"{escape(str(path))}: {_exported(count)} exported")


def _exported(count: Exported) -> str:
    if not count.suppressed:
        return f"{count.subscribers} subscribers"
    addresses = "address" if count.suppressed == 1 else "addresses"
    return f"{count.subscribers} subscribers and {count.suppressed} other suppressed {addresses}"


@subscribers.command("stats")
@reports_errors
def subscribers_stats() -> None:
    """The list by status, suppressions by reason, stale pending
    subscriptions, and the segments of the next edition."""
    from subscribers.admin import list_stats
    from subscribers.tokens import CONFIRM_WINDOW

    settings = _settings()
    with _sessions(settings)() as session:
        stats = list_stats(session, _utcnow())
    statuses = Table("status", Column("subscribers", justify="right"), title="Subscribers")
    for state, count in stats.by_status.items():
        statuses.add_row(state, str(count))
    reasons = Table("reason", Column("addresses", justify="right"), title="Suppressions")
    for reason, count in stats.suppressed.items():
        reasons.add_row(reason, str(count))
    segments = Table(
        "categories",
        Column("confirmed", justify="right"),
        Column("receiving", justify="right"),
        title="Segments",
    )
    for segment in stats.segments:
        segments.add_row(
            escape(segment_label(segment.categories)),
            str(segment.confirmed),
            str(segment.receiving),
        )
    console.print(statuses, reasons, segments)
    console.print(f"receiving the next edition: {stats.receiving}")
    console.print(
        f"pending for longer than the {CONFIRM_WINDOW.days}-day confirmation window: "
        f"{stats.stale_pending}"
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


@main.group()
def bounces() -> None:
    """Bounces, complaints and mailed unsubscribes from a mailbox."""


@bounces.command("read")
@click.argument("path", type=click.Path(path_type=Path))
@reports_errors
def bounces_read(path: Path) -> None:
    """Apply the messages of an mbox file or a Maildir directory. The file is
    only read; reading it again applies nothing twice."""
    from subscribers.mailboxes import read_mailbox

    settings = _settings()
    _bounce_report(str(path), read_mailbox(_sessions(settings), path, settings))


@bounces.command("fetch")
@click.option(
    "--url", help="IMAP mailbox (imaps://user:password@host/INBOX); default BOUNCE_IMAP_URL."
)
@reports_errors
def bounces_fetch(url: str | None) -> None:
    """Fetch the unseen messages of an IMAP mailbox and apply them: applied
    ones are deleted, the others marked seen and left for a person."""
    from subscribers.mailboxes import fetch_imap
    from worker.errors import ConfigError

    settings = _settings()
    url = url or settings.bounce_imap_url
    if not url:
        raise ConfigError("no IMAP mailbox to fetch from: set BOUNCE_IMAP_URL or give --url")
    _bounce_report(redact_url(url), fetch_imap(_sessions(settings), url, settings))


def _bounce_report(source: str, report: MailboxReport) -> None:
    """One line of counts; messages that could not be read, each with its
    place, as an error (exit status 1) after it."""
    from worker.store.models import IntakeKind

    applied = report.summary.applied
    counts = [
        (applied[IntakeKind.HARD_BOUNCE], "hard bounce"),
        (applied[IntakeKind.SOFT_BOUNCE], "soft bounce"),
        (applied[IntakeKind.COMPLAINT], "complaint"),
        (applied[IntakeKind.UNSUBSCRIBE], "unsubscribe"),
        (applied[IntakeKind.OTHER], "other"),
    ]
    shown = ", ".join(f"{n} {label}{'' if n == 1 else 's'}" for n, label in counts)
    console.print(
        f"{source}: {report.messages} messages: {shown}; {report.skipped} skipped, "
        f"{report.summary.already_seen} already seen, {len(report.errors)} unreadable; "
        f"{report.summary.suppressed} addresses suppressed",
        markup=False,
        highlight=False,
    )
    if report.errors:
        raise InputError(
            f"{source}: messages that could not be read (the others were applied)", report.errors
        )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, help="Port to listen on.")
@reports_errors
def web(host: str, port: int) -> None:
    """Serve the subscriber web app on this machine (for trying it out; in
    production gunicorn serves it, see the Procfile)."""
    from werkzeug.serving import run_simple

    from subscribers.web import create_app

    settings = _settings()
    console.print(f"subscriber pages at http://{host}:{port}/ (Ctrl-C stops)")
    run_simple(host, port, create_app(settings), threaded=True)


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
    from worker.demo import run_demo
    from worker.sample import SAMPLE_WEEK

    result = run_demo(directory, parse_week(week) if week else SAMPLE_WEEK, console)
    console.print()
    console.print(f"[bold]Outbox[/]:  {result.outbox} ({result.messages} .eml files)")
    console.print(f"[bold]Preview[/]: {result.preview_html}")
    console.print(f"[bold]Text[/]:    {result.preview_text}")
    store = f"sqlite:///{(directory / 'digest.sqlite3').resolve()}"
    console.print(
        f"[bold]Pages[/]:   DATABASE_URL={store} .venv/bin/digest web  "
        "(subscribe, the archive; the .eml links point at http://localhost:5000)",
        highlight=False,
    )
