"""``digest bounces``: bounces, complaints and mailed unsubscribes from a mailbox."""

from pathlib import Path

import click

from subscribers.intake.mailboxes import MailboxReport, fetch_imap, read_mailbox
from worker.cli.common import (
    console,
    load,
    sessions_for,
)
from worker.config import redact_url
from worker.errors import ConfigError, InputError


@click.group()
def bounces() -> None:
    """Bounces, complaints and mailed unsubscribes from a mailbox."""


@bounces.command("read")
@click.argument("path", type=click.Path(path_type=Path))
def bounces_read(path: Path) -> None:
    """Apply the messages of an mbox file or a Maildir directory. The file is
    only read; reading it again applies nothing twice."""
    settings = load()
    _bounce_report(str(path), read_mailbox(sessions_for(settings), path, settings))


@bounces.command("fetch")
@click.option(
    "--url", help="IMAP mailbox (imaps://user:password@host/INBOX); default BOUNCE_IMAP_URL."
)
def bounces_fetch(url: str | None) -> None:
    """Fetch the unseen messages of an IMAP mailbox and apply them: applied
    ones are deleted, the others marked seen and left for a person."""
    settings = load()
    url = url or settings.bounce_imap_url
    if not url:
        raise ConfigError("no IMAP mailbox to fetch from: set BOUNCE_IMAP_URL or give --url")
    _bounce_report(redact_url(url), fetch_imap(sessions_for(settings), url, settings))


def _bounce_report(source: str, report: MailboxReport) -> None:
    """One line of counts; messages that could not be read, each with its
    place, as an error (exit status 1) after it."""
    console.print(report.described(source), markup=False, highlight=False)
    if report.errors:
        raise InputError(
            f"{source}: messages that could not be read (the others were applied)", report.errors
        )
