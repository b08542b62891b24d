"""``digest subscribers``: the list."""

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Column, Table

from subscribers.admin import (
    Removal,
    add_subscriber,
    list_stats,
    remove_subscriber,
    suppress_address,
    unsuppress_address,
)
from subscribers.csvexport import export_csv, export_file
from subscribers.csvio import CSVReport, import_csv
from worker.cli.common import (
    console,
    errors,
    load,
    sessions_for,
)
from worker.cli.tables import print_fitted
from worker.compose.message import Recipient
from worker.config import Settings, refuse_development_key
from worker.deliver.notices import NoticeNotSent, confirm_notice, send_notice
from worker.domain.segments import segment_label
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.domain.tokens import CONFIRM_WINDOW
from worker.domain.words import plural
from worker.errors import DigestError, InputError
from worker.now import process_now
from worker.render.renderer import Renderer


@click.group()
def subscribers() -> None:
    """The subscriber list."""


# How a file's delimiter is said, when it is not a comma.
SEPARATED_BY = {";": "semicolons", "\t": "tabs", "|": "'|'"}


@subscribers.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--status",
    type=click.Choice(["confirmed", "pending"]),
    default="confirmed",
    show_default=True,
    help="Consent state of new subscribers (use confirmed only for opted-in lists).",
)
@click.option(
    "--new-category",
    "new_categories",
    multiple=True,
    metavar="NAME",
    help="Accept this category in the file though no tool has it yet (repeat for more).",
)
def subscribers_import(path: Path, status: str, new_categories: tuple[str, ...]) -> None:
    """Load subscribers from a CSV file (email, name, categories separated by
    ';'; an export's columns too), separated by commas, semicolons, tabs or
    '|'. Bad rows are reported by line and the others imported; a file that
    cannot be read, or whose header names no 'email' or an unknown column,
    is refused whole."""
    settings = load()
    report = import_csv(
        sessions_for(settings), path, SubscriberStatus(status), new_categories=new_categories
    )
    where = escape(str(path))
    if report.delimiter in SEPARATED_BY:
        console.print(
            f"{where}: columns separated by {SEPARATED_BY[report.delimiter]}", highlight=False
        )
    console.print(f"{where}: {_imported(report)}", highlight=False)
    for line in report.held_back:
        console.print(escape(line), highlight=False)
    if report.untooled:
        console.print(_untooled(sorted(report.untooled)), highlight=False)
    if report.rejected:
        done = "the other rows were imported" if report.imported else "no row was imported"
        hint = "; ".join([f"{done}; fix these and import the file again", *report.hints])
        raise InputError(str(path), report.rejected, hint=hint)


def _imported(report: CSVReport) -> str:
    """What an import did, in words: ``2 rows imported (1 added, 1 merged), 1 rejected``."""
    said = f"{plural(report.imported, 'row')} imported"
    if report.imported:
        counts = [f"{report.added} added", f"{report.merged} merged"]
        if report.suppressed:
            counts.append(f"{report.suppressed} suppressed")
        if report.held_back:
            counts.append(f"{len(report.held_back)} held back")
        said += f" ({', '.join(counts)})"
    if report.rejected:
        said += f", {len(report.rejected)} rejected"
    return said


def _untooled(categories: list[str]) -> str:
    """The note on categories accepted that no tool has."""
    names = escape(", ".join(categories))
    if len(categories) == 1:
        return f"note: no tool has the category {names} yet: nothing of it is sent until one does"
    return f"note: no tool has the categories {names} yet: nothing of them is sent until one does"


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
    "--new-category",
    "new_categories",
    multiple=True,
    metavar="NAME",
    help="A category to receive that no tool has yet (repeat for more).",
)
@click.option(
    "--timezone",
    metavar="ZONE",
    help="The reader's IANA time zone (Asia/Singapore); none: DIGEST_TIMEZONE.",
)
@click.option(
    "--pending",
    is_flag=True,
    help="Store unconfirmed and send the confirmation email (double opt-in).",
)
def subscribers_add(
    email: str,
    name: str | None,
    categories: tuple[str, ...],
    new_categories: tuple[str, ...],
    timezone: str | None,
    pending: bool,
) -> None:
    """Add a subscriber: confirmed (you vouch for their consent), or with
    --pending unconfirmed, sent the confirmation email the subscribe form
    sends.

    Someone already on the list is left as they are; a suppressed address is
    refused, and so is a category no tool has (unless named by
    --new-category, or no tool has a category yet).
    """
    settings = load()
    if pending:  # refused before anyone is added who could not be mailed
        refuse_development_key(settings, f"mailing confirmations for {settings.site_url}")
    with sessions_for(settings).begin() as session:
        added = add_subscriber(
            session,
            email,
            name,
            [*categories, *new_categories],
            confirmed=not pending,
            now=process_now(),
            new_categories=new_categories,
            timezone=timezone,
        )
    who = escape(added.email)
    if not added.added:
        console.print(f"{who}: already on the list ({added.status}); left as it is")
        return
    zone = f", {escape(added.timezone)}" if added.timezone else ""
    console.print(f"{who}: added, {added.status}, {escape(segment_label(added.categories))}{zone}")
    if added.untooled:
        console.print(_untooled(list(added.untooled)), highlight=False)
    if pending:
        _send_confirmation(settings, added.subscriber_id, added.email, added.name)
        console.print(f"{who}: confirmation email sent")


def _send_confirmation(
    settings: Settings, subscriber_id: int, email: str, name: str | None
) -> None:

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
def subscribers_remove(email: str, erase: bool) -> None:
    """Unsubscribe a subscriber at once (--delete: erase them, keeping only
    the address, on the suppression list, so no import brings them back)."""
    settings = load()
    with sessions_for(settings).begin() as session:
        done = remove_subscriber(session, email, erase=erase, now=process_now())
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
def subscribers_suppress(email: str, reason: str, detail: str | None) -> None:
    """Put an address on the suppression list: no send reaches it again."""
    settings = load()
    with sessions_for(settings).begin() as session:
        address, earlier = suppress_address(session, email, SuppressionReason(reason), detail)
    if earlier is None:
        console.print(f"{escape(address)}: suppressed")
    else:
        console.print(f"{escape(address)}: already suppressed ({earlier}); kept as it was")


@subscribers.command("unsuppress")
@click.argument("email")
def subscribers_unsuppress(email: str) -> None:
    """Take an address off the suppression list (it is not resubscribed)."""
    settings = load()
    with sessions_for(settings).begin() as session:
        address = unsuppress_address(session, email)
    console.print(f"{escape(address)}: no longer suppressed")


@subscribers.command("export")
@click.argument("destination", default="-", metavar="[FILE|-]")
@click.option(
    "--status",
    type=click.Choice([s.value for s in SubscriberStatus]),
    help="Only subscribers in this state.",
)
def subscribers_export(destination: str, status: str | None) -> None:
    """Write the subscribers as CSV to FILE (readable by you only), or to
    standard output with - (the default). Spreadsheet formulas are defused."""
    settings = load()
    wanted = SubscriberStatus(status) if status else None
    with sessions_for(settings)() as session:
        if destination == "-":
            count = export_csv(session, sys.stdout, status=wanted)
            errors.print(f"{count.described()} exported", highlight=False)
            return
        path = Path(destination)
        count = export_file(session, path, status=wanted)
    console.print(f"{escape(str(path))}: {count.described()} exported")


@subscribers.command("stats")
def subscribers_stats() -> None:
    """The list by status, suppressions by reason, stale pending
    subscriptions, and the segments of the next edition."""
    settings = load()
    with sessions_for(settings)() as session:
        stats = list_stats(session, process_now())
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
    print_fitted(console, statuses, reasons, segments)
    untooled = sorted({name for segment in stats.segments for name in segment.untooled})
    if untooled:
        console.print(_untooled(untooled), highlight=False)
    console.print(f"receiving the next edition: {stats.receiving}")
    console.print(
        f"pending for longer than the {CONFIRM_WINDOW.days}-day confirmation window: "
        f"{stats.stale_pending}"
    )
