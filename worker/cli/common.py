"""What every command module shares: the consoles, turning errors into one
line, the settings and store of a command, the week it is about, and
stopping on a signal after the batch in hand."""

import contextlib
import functools
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, load_settings, refuse_development_key
from worker.domain.weeks import Week, last_complete_week, parse_week
from worker.errors import DigestError
from worker.mail import MailBackend, backend_from_url
from worker.now import process_now
from worker.schedule.due import coming_week
from worker.signals import on_stop_signals
from worker.store import make_engine, session_factory

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
            fail(str(error), error.hint)
        except (OperationalError, ProgrammingError) as error:
            # The driver's own words, never the statement or the URL.
            words = _first_line(error.orig)
            if isinstance(error, ProgrammingError) or words.startswith("no such table"):
                fail(
                    f"the database schema is missing or out of date ({words}); "
                    "run: digest db upgrade"
                )
            fail(f"the database is unreachable or refused: {words}")

    return wrapper  # type: ignore[return-value]


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""


def fail(message: str, hint: str = "") -> NoReturn:
    """Print ``message`` (and what to do about it, ``hint``) as an error; exit 1."""
    # The message may quote input ("[/x]@example.com"): never read as markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    if hint:
        errors.print(f"[dim]hint:[/] {escape(hint)}", markup=True, highlight=False)
    sys.exit(1)


def load() -> Settings:
    return load_settings()


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


def last_week(settings: Settings, week: str | None) -> Week:
    # The clock's rule: an edition covers the last complete week.
    return parse_week(week) if week else last_complete_week(process_now(), settings.timezone)


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    return session_factory(make_engine(settings.database_url))


def coming(settings: Settings, week: str | None, default: Week | None = None) -> Week:
    """The week of ``--week``, else ``default``, else the edition of the coming send."""
    return parse_week(week) if week else default or coming_week(settings, process_now())


def local_time(settings: Settings, moment: datetime | None) -> str:
    return f"{moment.astimezone(settings.timezone):%Y-%m-%d %H:%M %Z}" if moment else "—"


def user_name() -> str:
    """The OS user running the command (what --by defaults to)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name and no passwd entry (a bare container)
        return f"uid {os.getuid()}"


@contextlib.contextmanager
def finishing_on_signals(stop: threading.Event) -> Iterator[None]:
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
