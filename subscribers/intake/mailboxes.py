"""Bounce mailboxes read into the intake: an mbox file, a Maildir directory,
or an IMAP mailbox.

Messages are classified by :mod:`subscribers.intake.dsn` and applied by
:mod:`subscribers.intake.records` a hundred at a time, each hundred in one
transaction. A message that cannot be read is reported with its place (the
mbox message number, the Maildir file name, the IMAP UID) and the others go
on.

Files are only read: reading one again applies nothing twice. From IMAP,
only unseen, undeleted messages are fetched (``BODY.PEEK[]``, which leaves
them unseen); once their events are committed, applied messages are flagged
``\\Deleted`` and expunged, skipped ones (not reports) are marked ``\\Seen``
and left for a person, and unreadable ones are marked ``\\Seen`` and
``\\Flagged``. A run stopped between the commit and the flags fetches those
messages again next time, and they change nothing more.

``imaps://user:password@host[:993]/MAILBOX`` is TLS from the first byte;
``imap://user:password@host[:143]/MAILBOX`` must upgrade with STARTTLS.
Options: ``?verify=off`` skips certificate checks and ``?starttls=off``
sends the password in the clear (both for local test servers only),
``?timeout=`` in seconds (default 30). Percent-encode ``@``, ``:`` and
``%`` in the user name and password; the password never appears in an error.
"""

from __future__ import annotations

import enum
import imaplib
import mailbox
import re
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from subscribers.intake.dsn import MessageError, classify
from subscribers.intake.records import IntakeRecord, IntakeSummary, apply
from worker.config import Settings, redact_url
from worker.domain.suppression import IntakeKind
from worker.errors import ConfigError, DigestError
from worker.mail.base import url_options

CHUNK = 100
DEFAULT_PORTS = {"imaps": 993, "imap": 143}
# The kinds a mailbox report counts, in its order, with their names.
_KINDS_SHOWN = (
    (IntakeKind.HARD_BOUNCE, "hard bounce"),
    (IntakeKind.SOFT_BOUNCE, "soft bounce"),
    (IntakeKind.COMPLAINT, "complaint"),
    (IntakeKind.UNSUBSCRIBE, "unsubscribe"),
    (IntakeKind.OTHER, "other"),
)


class MailboxError(DigestError):
    """A mailbox could not be opened, reached or read."""


class MessageOutcome(enum.StrEnum):
    """What became of one message of a mailbox, which decides its IMAP flags."""

    APPLIED = "applied"  # its events are recorded (now or before)
    SKIPPED = "skipped"  # not a report or an unsubscribe
    ERROR = "error"


@dataclass
class MailboxReport:
    """What a run did: the intake summary, messages read and skipped, and
    one line per message that could not be read."""

    summary: IntakeSummary = field(default_factory=IntakeSummary)
    messages: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def described(self, source: str) -> str:
        """The run's counts in one line after ``source`` (the mailbox's path
        or redacted URL), as ``digest bounces`` prints it."""
        applied = self.summary.applied
        shown = ", ".join(
            f"{applied[kind]} {label}{'' if applied[kind] == 1 else 's'}"
            for kind, label in _KINDS_SHOWN
        )
        return (
            f"{source}: {self.messages} messages: {shown}; {self.skipped} skipped, "
            f"{self.summary.already_seen} already seen, {len(self.errors)} unreadable; "
            f"{self.summary.suppressed} addresses suppressed"
        )


def read_mailbox(sessions: sessionmaker[Session], path: Path, settings: Settings) -> MailboxReport:
    """Apply every message of the mbox file or Maildir directory at ``path``."""
    box = open_mailbox(path)
    report = MailboxReport()
    try:
        keys = sorted(box.iterkeys(), key=_sort_key)
    except (OSError, mailbox.Error) as error:
        raise MailboxError(f"{path}: cannot be read: {error}") from None
    for chunk in _chunks(keys):
        messages = [(_place(path, box, key), _read(box, key)) for key in chunk]
        _intake(sessions, settings, messages, report)
    return report


def open_mailbox(path: Path) -> mailbox.Mailbox:
    """A Maildir for a directory (with ``cur/`` and ``new/``), an mbox for a file."""
    if path.is_dir():
        if not ((path / "cur").is_dir() and (path / "new").is_dir()):
            raise MailboxError(f"{path}: a directory but not a Maildir (no cur/ and new/)")
        return mailbox.Maildir(path, factory=None, create=False)
    if path.is_file():
        return mailbox.mbox(path, factory=None, create=False)
    raise MailboxError(f"{path}: no such file or directory")


def _sort_key(key: Any) -> tuple[int, str]:
    # mbox keys are message numbers, Maildir keys file names.
    return (key, "") if isinstance(key, int) else (0, str(key))


def _place(path: Path, box: mailbox.Mailbox, key: Any) -> str:
    if isinstance(box, mailbox.mbox):
        return f"{path}: message {key + 1}"
    return f"{path}: {key}"


def _read(box: mailbox.Mailbox, key: Any) -> bytes | MessageError:
    try:
        return box.get_bytes(key)
    except (OSError, KeyError) as error:
        return MessageError(f"cannot be read: {error}")


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def _intake(
    sessions: sessionmaker[Session],
    settings: Settings,
    messages: list[tuple[str, bytes | MessageError]],
    report: MailboxReport,
) -> list[MessageOutcome]:
    """Classify ``messages`` (place, bytes) and apply their records in one
    transaction; the outcome of each message, in order."""
    records: list[IntakeRecord] = []
    outcomes = []
    for place, data in messages:
        report.messages += 1
        try:
            if isinstance(data, MessageError):
                raise data
            found = classify(data, settings)
        except MessageError as error:
            report.errors.append(f"{place}: {error}")
            outcomes.append(MessageOutcome.ERROR)
            continue
        if not found:
            report.skipped += 1
            outcomes.append(MessageOutcome.SKIPPED)
            continue
        records.extend(found)
        outcomes.append(MessageOutcome.APPLIED)
    if records:
        with sessions.begin() as session:
            summary = apply(session, records, soft_bounce_limit=settings.soft_bounce_limit)
        report.summary.add(summary)
    return outcomes


# IMAP


@dataclass(frozen=True)
class ImapTarget:
    """An IMAP mailbox, from a URL (see the module's docstring)."""

    shown_url: str
    implicit_tls: bool
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    mailbox: str
    starttls: bool
    verify: bool
    timeout: float


def parse_imap_url(url: str) -> ImapTarget:
    """The parts of an ``imaps://`` or ``imap://`` URL; ConfigError names
    what is wrong without showing the password.

    Split by position, not by a URL parser alone: a password may hold an
    unencoded ``/``, ``?`` or ``#`` that would fool one (as in
    :func:`worker.config.redact_url`)."""
    shown = redact_url(url)
    scheme, slashes, rest = url.partition("://")
    if scheme not in DEFAULT_PORTS or not slashes:
        raise ConfigError(f"IMAP URL {shown!r}: use imaps://user:password@host/MAILBOX")
    credentials, at, location = rest.rpartition("@")
    user, _, password = credentials.partition(":")
    if not at or not user or not password:
        raise ConfigError(f"IMAP URL {shown!r}: needs a user and a password")
    parts = urlsplit(f"//{location}")
    query = url_options(parts)
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
        timeout = float(query.get("timeout", "30"))
    except ValueError:
        raise ConfigError(f"IMAP URL {shown!r}: bad port or timeout") from None
    if not parts.hostname:
        raise ConfigError(f"IMAP URL {shown!r}: no host")
    return ImapTarget(
        shown_url=shown,
        implicit_tls=scheme == "imaps",
        host=parts.hostname,
        port=port,
        user=unquote(user),
        password=unquote(password),
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        starttls=scheme == "imap" and query.get("starttls") != "off",
        verify=query.get("verify") != "off",
        timeout=timeout,
    )


def fetch_imap(sessions: sessionmaker[Session], url: str, settings: Settings) -> MailboxReport:
    """Fetch the unseen messages of the IMAP mailbox at ``url``, apply them,
    and flag them by outcome (see the module's docstring)."""
    target = parse_imap_url(url)
    report = MailboxReport()
    try:
        with _connect(target) as imap:
            _expect(imap.login(target.user, target.password), target, "log in")
            _expect(imap.select(_quoted(target.mailbox)), target, f"open {target.mailbox!r}")
            found = _expect(imap.uid("SEARCH", "UNSEEN", "UNDELETED"), target, "search")
            uids = [uid.decode("ascii") for uid in (found[0] or b"").split()]
            deleted: list[str] = []
            for chunk in _chunks(uids):
                messages = [(f"{target.shown_url}: UID {uid}", _fetch(imap, uid)) for uid in chunk]
                outcomes = _intake(sessions, settings, messages, report)
                deleted += _settle(imap, target, zip(chunk, outcomes, strict=True))
            if deleted:
                _expunge(imap, target, deleted)
    except (imaplib.IMAP4.error, OSError) as error:
        # imaplib's errors quote the server, never the command's arguments.
        raise MailboxError(f"{target.shown_url}: {_describe(error)}") from None
    return report


def _connect(target: ImapTarget) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    if not target.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if target.implicit_tls:
        return imaplib.IMAP4_SSL(
            target.host, target.port, ssl_context=context, timeout=target.timeout
        )
    imap = imaplib.IMAP4(target.host, target.port, timeout=target.timeout)
    if target.starttls:
        try:
            imap.starttls(ssl_context=context)
        except BaseException:
            imap.shutdown()
            raise
    return imap


def _expect(answer: tuple[str, list[Any]], target: ImapTarget, doing: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        said = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise MailboxError(f"{target.shown_url}: cannot {doing}: {said or status}")
    return data


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fetch(imap: imaplib.IMAP4, uid: str) -> bytes | MessageError:
    status, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
    for item in data if status == "OK" else ():
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return MessageError("the server returned no message for this UID")


FLAGS = {
    MessageOutcome.APPLIED: r"(\Deleted)",
    MessageOutcome.SKIPPED: r"(\Seen)",
    MessageOutcome.ERROR: r"(\Seen \Flagged)",
}


def _settle(
    imap: imaplib.IMAP4, target: ImapTarget, outcomes: Iterable[tuple[str, MessageOutcome]]
) -> list[str]:
    """Flag each message by its outcome; the UIDs flagged for deletion."""
    by_outcome: dict[MessageOutcome, list[str]] = {}
    for uid, outcome in outcomes:
        by_outcome.setdefault(outcome, []).append(uid)
    for outcome, uids in by_outcome.items():
        answer = imap.uid("STORE", ",".join(uids), "+FLAGS.SILENT", FLAGS[outcome])
        _expect(answer, target, "flag messages")
    return by_outcome.get(MessageOutcome.APPLIED, [])


def _expunge(imap: imaplib.IMAP4, target: ImapTarget, uids: list[str]) -> None:
    # UID EXPUNGE (UIDPLUS) removes only our messages; plain EXPUNGE also
    # removes what others flagged \Deleted in this mailbox.
    if "UIDPLUS" in imap.capabilities:
        _expect(imap.uid("EXPUNGE", ",".join(uids)), target, "expunge")
    else:
        _expect(imap.expunge(), target, "expunge")


def _describe(error: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(error)).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
