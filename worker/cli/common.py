"""What every command module shares: the consoles, turning errors into one
line, the settings and store of a command, the week it is about, and
stopping on a signal after the batch in hand."""

import contextlib
import getpass
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, load_settings, refuse_development_key
from worker.domain.weeks import Week, last_complete_week, parse_week
from worker.errors import DigestError, driver_words
from worker.logs import redact, secret_values
from worker.mail import MailBackend, backend_from_url
from worker.now import process_now
from worker.signals import Stop, stopping_on_signals
from worker.store import make_engine, parse_database_url, session_factory
from worker.store.outbox import with_events

T = TypeVar("T")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


@contextlib.contextmanager
def errors_as_lines(verbose: bool = False) -> Iterator[None]:
    """The one place a command's error becomes what the operator reads: one
    line (and a hint), exit 1, never a traceback unless ``verbose`` asks for
    it, and never a secret of the environment."""
    try:
        yield
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise  # click's own: usage errors, --help, Ctrl-C at a prompt
    except DigestError as error:
        _traceback(verbose)
        fail(str(error), error.hint)
    except (OperationalError, ProgrammingError) as error:
        _traceback(verbose)
        # The driver's own words, never the statement or the URL.
        words = _first_line(error.orig)
        if _SCHEMA_MISSING.search(words):
            fail(f"the database schema is missing or out of date ({words}); run: digest db upgrade")
        fail(f"DATABASE_URL: the database is unreachable or refused: {words}")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug, or a failure nobody foresaw: still one line
        _traceback(verbose)
        fail(
            f"unexpected error: {driver_words(error)}",
            "digest -v … shows the traceback; please report it",
        )


def _traceback(verbose: bool) -> None:
    """With -v, the traceback of the error being handled, secrets masked."""
    if verbose:
        errors.print(
            redact(traceback.format_exc(), secret_values(os.environ)),
            markup=False,
            highlight=False,
        )


# SQLite's and PostgreSQL's words for a table or column the code expects.
_SCHEMA_MISSING = re.compile(r"no such (table|column)|(relation|column) .* does not exist")


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""


def fail(message: str, hint: str = "") -> NoReturn:
    """Print ``message`` (and what to do about it, ``hint``) as an error,
    secrets masked; exit 1."""
    secrets = secret_values(os.environ)
    message, hint = redact(message, secrets), redact(hint, secrets)
    # The message may quote input ("[/x]@example.com"): never read as markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    if hint:
        errors.print(f"[dim]hint:[/] {escape(hint)}", markup=True, highlight=False)
    sys.exit(1)


def load() -> Settings:
    """The settings of the environment, each checked: a bad one is a
    ConfigError naming it, before the command does anything (the store
    and mail URLs are only parsed here, not connected to)."""
    settings = load_settings()
    parse_database_url(settings.database_url)
    backend_from_url(settings.mail_url)
    return settings


def check_before_sending(settings: Settings) -> None:
    """Refuse to sign links with the development key for a public site, and
    say what would hurt delivery before a real send (not the file, console
    or memory outbox)."""
    refuse_development_key(settings, f"sending mail for {settings.site_url}")
    if settings.mail_url.split(":", 1)[0] in ("file", "console", "memory"):
        return
    if not settings.site_url.startswith("https://"):
        logging.getLogger("worker").warning(
            "SITE_URL is not https: inbox providers ignore a one-click unsubscribe (RFC 8058) "
            "that is not https, and Gmail and Yahoo require one of bulk senders"
        )


def sending_backend(settings: Settings) -> MailBackend:
    """``MAIL_URL``'s backend for a real send, not yet open, once
    :func:`check_before_sending` has passed."""
    check_before_sending(settings)
    return backend_from_url(settings.mail_url)


# Help texts shared by the commands' options.
LAST_WEEK = "ISO week, e.g. 2026-W48; default: last week, the edition the schedule builds now."
COMING = "ISO week, e.g. 2026-W48; default: the edition of the coming send."
SEGMENT = (
    "Segment: its categories, separated by commas (e.g. 'Design, Productivity'); "
    "default: every category."
)
SAMPLE = (
    "Use the sample data (sample/) in a scratch store instead of DATABASE_URL; "
    "the week defaults to the sample's."
)
BY = "Who does it, recorded on the edition; default: your user name."
EDITION = (
    "An edition file being written (Markdown with front matter): it shapes the week "
    "in place of the stored one; the week defaults to the one its name gives (2026-W48.md)."
)


def last_week(settings: Settings, week: str | None) -> Week:
    # The clock's rule: an edition covers the last complete week.
    return parse_week(week) if week else last_complete_week(process_now(), settings.timezone)


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    """Sessions on ``DATABASE_URL``'s store, which must exist (only ``digest
    db upgrade`` creates one); they record webhook events when
    ``WEBHOOK_URLS`` is set."""
    engine = make_engine(settings.database_url, create=False)
    return session_factory(with_events(engine, bool(settings.webhook_urls)))


def ready_sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions on a store that answers and has this code's schema; else
    one line saying which it is not. For the commands that run jobs (tick,
    clock, worker), whose every job would otherwise fail on its own."""
    from worker.ops.health import store_health  # Alembic's scripts: only when needed

    sessions = sessions_for(settings)
    health = store_health(sessions.kw["bind"])
    if not health.reachable:
        fail(f"DATABASE_URL: the database is unreachable or refused: {health.error}")
    if health.problem:
        fail(f"DATABASE_URL: {health.problem}")
    return sessions


def coming(settings: Settings, week: str | None, default: Week | None = None) -> Week:
    """The week of ``--week``, else ``default``, else the edition of the
    coming send (as the store's edition files move their weeks' sends)."""
    if week:
        return parse_week(week)
    if default is not None:
        return default
    from worker.schedule.due import coming_week, one_off_sends

    sessions = sessions_for(settings)
    try:
        with sessions() as session:
            one_offs = one_off_sends(session, settings)
    finally:
        sessions.kw["bind"].dispose()  # a long-running command keeps no idle connection
    return coming_week(settings, process_now(), one_offs)


def local_time(settings: Settings, moment: datetime | None) -> str:
    return f"{moment.astimezone(settings.timezone):%Y-%m-%d %H:%M %Z}" if moment else "—"


def user_name() -> str:
    """The OS user running the command (what --by defaults to)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name and no passwd entry (a bare container)
        return f"uid {os.getuid()}"


@contextlib.contextmanager
def finishing_on_signals() -> Iterator[Stop]:
    """A stop that SIGTERM (a platform's restart) or Ctrl-C set: the command
    finishes the batch in hand, records it, and returns. A second Ctrl-C
    stops at once."""

    def told(signum: signal.Signals, again: bool) -> None:
        if again and signum == signal.SIGINT:
            raise KeyboardInterrupt
        logging.getLogger("worker.deliver").warning(
            "%s: finishing the batch in hand, then stopping",
            signum.name,
            extra={"signal": signum.name},
        )

    with stopping_on_signals(told) as stop:
        yield stop


def edit_until_valid(text: str, read: Callable[[str], T], *, extension: str = ".md") -> T | None:
    """``text`` opened in ``$VISUAL`` or ``$EDITOR`` until what is saved
    reads without error (``read`` raises a DigestError naming each bad line;
    the errors are printed and the editor opened again on the saved text).
    None when the editor is quit without saving, or the person gives up."""
    while True:
        edited = click.edit(text, extension=extension, require_save=True)
        if edited is None:
            return None
        try:
            return read(edited)
        except DigestError as error:
            click.echo(f"error: {error}", err=True)
            if not click.confirm("Edit again?", default=True, err=True):
                return None
            text = edited
