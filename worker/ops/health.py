"""Probes of what the worker depends on: the store and the mail backend.

``/healthz``, ``digest status`` and ``digest check`` ask these. A probe
never raises for what it finds: it answers a plain value that says what is
wrong in words an operator can act on, without a password or token (URLs go
through :func:`worker.config.redact_url`).
"""

from __future__ import annotations

import functools
import os
import re
import smtplib
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from worker.config import redact_url
from worker.errors import MailError, driver_words
from worker.mail import backend_from_url
from worker.mail.file import FileBackend
from worker.mail.http import TOKEN_REFUSED, HTTPBackend
from worker.mail.smtp import SMTPBackend, quietly_close
from worker.mail.smtpreplies import describe
from worker.store import MIGRATIONS, current_revision

#: Seconds a mail probe may take before it gives up.
MAIL_TIMEOUT = 5.0


# A migration's own id and the one it follows, as each file states them.
_REVISION = re.compile(r'^(down_revision|revision)\b[^=]*=\s*"?(\w+|None)"?', re.MULTILINE)


@functools.cache
def _migrations() -> dict[str, str | None]:
    """Each migration this code knows and the one before it, read from the
    files' ``revision`` and ``down_revision`` lines rather than through
    Alembic's script directory: every worker and web process probes the
    store, and Alembic costs it about 9 MB of memory. A test holds this
    equal to Alembic's reading."""
    found: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        ids = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        found[ids["revision"]] = None if ids["down_revision"] == "None" else ids["down_revision"]
    return found


@functools.cache
def head_revision() -> str:
    """The latest migration this code knows (what ``digest db upgrade`` reaches)."""
    migrations = _migrations()
    (head,) = set(migrations) - set(migrations.values())
    return head


def known_revisions() -> frozenset[str]:
    """Every migration this code knows."""
    return frozenset(_migrations())


@dataclass(frozen=True)
class StoreHealth:
    """Whether the store answers and holds the schema this code expects."""

    reachable: bool
    revision: str | None  # the store's migration; None when it has no schema
    head: str  # the code's latest migration
    error: str | None = None  # the driver's words when unreachable (for logs)

    @property
    def ok(self) -> bool:
        return self.reachable and (self.revision == self.head or self.ahead)

    @property
    def ahead(self) -> bool:
        """The store was migrated by newer code than this: during a deploy,
        after the new release's ``digest db upgrade`` and before this
        process is replaced. Migrations add before they take away, so the
        old code still works meanwhile."""
        return self.revision is not None and self.revision not in known_revisions()

    @property
    def problem(self) -> str | None:
        """What is wrong, in one line safe to show anyone; None when healthy."""
        if not self.reachable:
            return "the store is unreachable"
        if self.revision is None:
            return "the store has no schema; run: digest db upgrade"
        if self.revision != self.head and not self.ahead:
            return (
                f"the schema is at revision {self.revision}, this code expects "
                f"{self.head}; run: digest db upgrade"
            )
        return None


def store_health(engine: Engine) -> StoreHealth:
    """``SELECT 1``, then the schema's migration compared with the code's."""
    head = head_revision()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except SQLAlchemyError as error:
        return StoreHealth(False, None, head, driver_words(error))
    return StoreHealth(True, revision, head)


@dataclass(frozen=True)
class MailHealth:
    """What a probe of the mail backend found. ``ok`` is None when the
    backend has nothing to reach or no probe (not checked)."""

    ok: bool | None
    backend: str  # MAIL_URL with any password masked
    detail: str


def probe_mail(mail_url: str, timeout: float = MAIL_TIMEOUT) -> MailHealth:
    """Reach the backend of ``mail_url`` without sending anything: SMTP
    connects, logs in and says NOOP; an email service's API answers a
    request that needs the token and sends nothing (Postmark's server
    details); a file outbox must be a writable directory."""
    shown = redact_url(mail_url)
    try:
        backend = backend_from_url(mail_url)
    except MailError as error:
        return MailHealth(False, shown, str(error))
    if isinstance(backend, SMTPBackend):
        ok, detail = _smtp(backend, timeout)
    elif isinstance(backend, HTTPBackend) and backend.probe_path is not None:
        ok, detail = _service(backend, backend.probe_path, timeout)
    elif isinstance(backend, FileBackend):
        ok, detail = _directory(backend.directory)
    elif backend.url.scheme in ("console", "memory"):
        return MailHealth(None, shown, "nothing to reach: messages stay in this process")
    else:
        return MailHealth(None, shown, f"not checked: no probe for {type(backend).__name__}")
    return MailHealth(ok, shown, detail)


def _smtp(backend: SMTPBackend, timeout: float) -> tuple[bool, str]:
    backend.timeout = min(backend.timeout, timeout)
    try:
        connection = backend.connect()  # greeting, STARTTLS, login
    except (smtplib.SMTPException, OSError, MailError) as error:
        return False, f"cannot connect or log in: {_smtp_words(error)}"
    try:
        code, answer = connection.noop()
    except (smtplib.SMTPException, OSError) as error:
        return False, f"NOOP failed: {_smtp_words(error)}"
    finally:
        quietly_close(connection)
    if code != 250:
        return False, f"NOOP answered {code} {answer.decode(errors='replace')}"
    login = f", logged in as {backend.username}" if backend.username else ""
    return True, f"{backend.host}:{backend.port} answered NOOP with 250{login}"


def _smtp_words(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return describe(error)
    return str(error) or type(error).__name__


def _service(backend: HTTPBackend, probe_path: str, timeout: float) -> tuple[bool, str]:
    backend.timeout = min(backend.timeout, timeout)
    service, token = backend.service, backend.token_name
    try:
        backend.request(probe_path)
    except urllib.error.HTTPError as error:
        if error.code in TOKEN_REFUSED:
            return False, f"{service} refused the {token} (HTTP {error.code})"
        return False, f"{service} answered HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        return False, f"{service} is unreachable: {reason}"
    return True, f"{service} accepted the {token}"


def _directory(directory: Path) -> tuple[bool, str]:
    """A file outbox: an existing directory takes a file; a missing one can
    be created (its nearest existing parent is a writable directory)."""
    if directory.exists():
        if not directory.is_dir():
            return False, f"{directory} is not a directory"
        try:
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as error:
            return False, f"cannot write in {directory}: {error.strerror}"
        return True, f"{directory} is a writable directory"
    parent = directory.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return False, f"{directory} does not exist and cannot be created in {parent}"
    return True, f"{directory} does not exist yet; it is created at the first send"
