"""An edition's life: build, send (and test sends), pause, resume, cancel,
approve and hold."""

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

import click
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy.orm import Session, sessionmaker

from subscribers.roster import InvalidField, normalise_email
from worker.cli.common import (
    BY,
    COMING,
    LAST_WEEK,
    SAMPLE,
    SEGMENT,
    check_before_sending,
    coming,
    console,
    errors,
    fail,
    finishing_on_signals,
    last_week,
    load,
    local_time,
    sessions_for,
    user_name,
)
from worker.config import Settings
from worker.deliver.approvals import approve_edition, hold_edition, release_edition
from worker.deliver.editions import (
    build_edition,
    cancel_edition,
    edition_counts,
    set_paused,
)
from worker.deliver.progress import EditionProgress, SendProgress
from worker.deliver.results import SendReport
from worker.deliver.runner import send_edition
from worker.domain.segments import parse_segment, segment_label
from worker.domain.words import plural
from worker.editor.proofs import send_tests
from worker.editor.sample import SAMPLE_WEEK
from worker.mail import backend_from_url
from worker.mail.base import Outcome
from worker.now import process_now
from worker.render.renderer import Renderer
from worker.schedule.due import week_send_time


@click.command()
@click.option("--week", help=LAST_WEEK)
def build(week: str | None) -> None:
    """Gather and render the week's edition, once per segment."""
    settings = load()
    result = build_edition(
        sessions_for(settings),
        last_week(settings, week),
        settings,
        Renderer(settings.templates_dir),
    )
    if result.status == "skipped":
        console.print(f"{result.week}: nothing new this week; edition recorded as skipped")
    elif not result.built:
        console.print(f"{result.week}: edition is {result.status}; left as it is")
    else:
        console.print(
            f"{result.week}: built \u201c{result.subject}\u201d for "
            f"{plural(len(result.segments), 'segment')}"
        )


@click.command()
@click.option("--week", help=LAST_WEEK + " With --test: the edition of the coming send.")
@click.option(
    "--test",
    is_flag=True,
    help="Send the edition to --to only, marked as a test ([TEST], X-Digest-Test); "
    "no deliveries are made.",
)
@click.option(
    "--to", "to", multiple=True, metavar="ADDRESS", help="With --test: who gets it (repeatable)."
)
@click.option("--segment", help=SEGMENT)
@click.option("--sample", is_flag=True, help=SAMPLE)
def send(
    week: str | None, test: bool, to: tuple[str, ...], segment: str | None, sample: bool
) -> None:
    """Build the week's edition if needed and send it to every confirmed
    subscriber who has not had it; with --test, to --to only."""
    settings = load()
    if test or to or segment or sample:
        if not (test and to):
            fail("--to, --segment and --sample go with --test, and --test needs --to ADDRESS")
        _send_test(settings, week, to, segment, sample)
        return
    check_before_sending(settings)
    sessions = sessions_for(settings)
    the_week = last_week(settings, week)
    built = build_edition(sessions, the_week, settings, Renderer(settings.templates_dir))
    if built.status == "skipped":
        console.print(f"{built.week}: nothing new this week; nothing to send")
        return
    with sessions() as session:
        # Each reader's morning of the week's scheduled send (DIGEST_SEND_LOCAL).
        send_at = week_send_time(session, settings, the_week)
    with (
        _progress(sessions, built.edition_id, built.week) as on_batch,
        finishing_on_signals() as stop,
    ):
        report, status = send_edition(
            sessions,
            the_week,
            settings,
            backend_from_url(settings.mail_url),
            on_batch=on_batch,
            stop=stop,
            send_at=send_at,
        )
    console.print(
        f"{built.week}: edition {status}; this run: {report.sent} sent, "
        f"{report.deferred} deferred, {report.failed} failed, {report.suppressed} suppressed"
    )


def _send_test(
    settings: Settings, week: str | None, to: tuple[str, ...], segment: str | None, sample: bool
) -> None:
    """``send --test``: parse, send, and say per address; exit 1 if any was not sent."""
    addresses = []
    for address in to:
        try:
            addresses.append(normalise_email(address))
        except InvalidField as error:
            fail(f"--to: {error}")
    key = parse_segment(segment)
    the_week = coming(settings, week, SAMPLE_WEEK if sample else None)
    results = send_tests(settings, the_week, key, addresses, sample=sample)
    for address, result in zip(addresses, results, strict=True):
        if result.outcome == Outcome.ACCEPTED:
            console.print(f"{the_week}: test for {segment_label(key)} sent to {address}")
        else:
            errors.print(
                f"{the_week}: test to {address} not sent: {result.outcome} "
                f"{result.code or ''} {result.text}".rstrip(),
                markup=False,
                highlight=False,
            )
    if any(result.outcome != Outcome.ACCEPTED for result in results):
        sys.exit(1)


@click.command()
@click.option("--week", help=LAST_WEEK)
def pause(week: str | None) -> None:
    """Pause a sending edition: workers stop at their next claim."""
    _set_paused(week, paused=True)


@click.command()
@click.option("--week", help=LAST_WEEK)
def resume(week: str | None) -> None:
    """Resume a paused edition."""
    _set_paused(week, paused=False)


def _set_paused(week: str | None, *, paused: bool) -> None:
    settings = load()
    the_week = last_week(settings, week)
    state = set_paused(sessions_for(settings), the_week, settings, paused=paused)
    console.print(f"{the_week}: {state}")


@click.command()
@click.option("--week", help=LAST_WEEK)
def cancel(week: str | None) -> None:
    """Cancel an edition for good; unsent deliveries stay unsent."""
    settings = load()
    the_week = last_week(settings, week)
    counts = cancel_edition(sessions_for(settings), the_week, settings)
    console.print(f"{the_week}: cancelled; {counts.pending} deliveries left unsent")


@click.command()
@click.option("--week", help=COMING)
@click.option("--by", help=BY)
def approve(week: str | None, by: str | None) -> None:
    """Approve a built edition for sending (the clock waits for it when
    DIGEST_REQUIRE_APPROVAL is on). Approving does not release a hold."""
    settings = load()
    marks = approve_edition(
        sessions_for(settings), coming(settings, week), settings, by or user_name(), process_now()
    )
    console.print(
        f"{marks.week}: approved by {escape(marks.approved_by or '')} "
        f"at {local_time(settings, marks.approved_at)}",
        highlight=False,
    )
    if marks.held_at is not None:
        console.print(
            f"{marks.week}: still held by {escape(marks.held_by or '')}; approving does not "
            "release a hold: digest hold --release does",
            highlight=False,
        )


@click.command()
@click.option("--week", help=COMING)
@click.option("--by", help=BY)
@click.option("--release", is_flag=True, help="Release the hold instead.")
def hold(week: str | None, by: str | None, release: bool) -> None:
    """Hold a built edition: nothing sends it (neither the clock nor
    digest send) until it is released with --release."""
    settings = load()
    sessions, the_week = sessions_for(settings), coming(settings, week)
    if release:
        marks = release_edition(sessions, the_week, settings, by or user_name())
        console.print(f"{marks.week}: hold released", highlight=False)
        return
    marks = hold_edition(sessions, the_week, settings, by or user_name(), process_now())
    console.print(
        f"{marks.week}: held by {escape(marks.held_by or '')} "
        f"at {local_time(settings, marks.held_at)}",
        highlight=False,
    )


@contextlib.contextmanager
def _progress(
    sessions: sessionmaker[Session], edition_id: int, week: str
) -> Iterator[Callable[[SendReport], None]]:
    """A rich progress bar on a terminal, a log line every few seconds
    otherwise. Counting is one query, so it runs at most that often."""
    meter = SendProgress(time.monotonic(), every=0.5 if console.is_terminal else 5.0)

    def measured(report: SendReport) -> EditionProgress | None:
        now = time.monotonic()
        if not meter.due(now):
            return None
        return meter.of_edition(edition_counts(sessions, edition_id), report.sent, now)

    if not console.is_terminal:

        def log_line(report: SendReport) -> None:
            progress = measured(report)
            if progress:
                logging.getLogger("worker.deliver").info(
                    "send progress",
                    extra={
                        "edition": week,
                        "done": progress.done,
                        "total": progress.total,
                        "rate": round(progress.rate, 1),
                    },
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

        def advance(report: SendReport) -> None:
            progress = measured(report)
            if progress:
                bar.update(
                    task,
                    completed=progress.done,
                    total=progress.total,
                    rate=f"{progress.rate:,.0f}/s",
                )

        yield advance
