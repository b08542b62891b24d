"""Subscriber CSV import, and what import and export share: the defusing
of spreadsheet formulas and the batch size (export is in
:mod:`subscribers.csvexport`).

The file needs a header row with an ``email`` column; ``name``,
``categories`` (separated by ``;``), ``status``, ``suppressed`` (a
suppression reason) and the ``created_at``, ``confirmed_at``,
``unsubscribed_at`` and ``paused_until`` timestamps (ISO 8601; without an
offset, UTC) and ``timezone`` (the reader's IANA zone) are optional, so a file written by
:func:`subscribers.csvexport.export_csv` imports as it was exported. A pause
is kept for a subscriber stored ``confirmed`` (confirming ends a pause, so
for no one else); any other column refuses the file, as does one that
cannot be read or has no ``email`` column. Columns are separated by ``,``,
``;``, tabs or ``|``: whichever makes ``email`` a column of the header.
Otherwise good rows are imported and bad rows are reported with their line
number (a row whose quoted value runs across lines, with every line it
took), and nothing else is lost. A category must be one some tool has
(:class:`subscribers.roster.CategoryCheck`). Duplicates are merged: within the
file, and with subscribers already stored (names fill gaps, category
choices are united). An imported row never changes the consent state of a
stored subscriber, and a row's ``status`` can only hold back a new
subscriber (``pending``, ``unsubscribed``, ``bounced``), never confirm one
the operator imports as pending. A row's ``suppressed`` reason puts the
address on the suppression list, stored subscriber or not: that only ever
keeps mail from going out. A new subscriber whose address is suppressed
(already, or by its row) is never stored as ``confirmed`` or ``pending``:
it is ``bounced`` when the reason is a bounce, else ``unsubscribed``, and
the report lists it; an ``unsuppress`` later must not start mailing a
complainer.

A value that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) is exported with a ``'``
before it, and so is a value that starts with ``'``; import takes that one
``'`` off again.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.consent import suppress
from subscribers.roster import (
    Candidate,
    CategoryCheck,
    InvalidField,
    candidate,
    merge_categories,
)
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.errors import InputError
from worker.now import process_now
from worker.store.models import Subscriber, Suppression
from worker.store.outbox import record_arrivals

# Rows a transaction imports, and an export fetches at a time.
CHUNK = 500
# The columns an import reads: any other is refused, since a misspelt one
# ("catgories") would otherwise be dropped without a word.
COLUMNS = (
    "email",
    "name",
    "categories",
    "status",
    "suppressed",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "paused_until",
    "timezone",
)
# The delimiters a file may use: Excel writes ";" where "," is the decimal comma.
DELIMITERS = (",", ";", "\t", "|")
# The hint of an error that refuses a whole file.
NOTHING = "nothing was imported"
# A row's fields beyond this are not a subscriber list but something else.
MAX_FIELD = 10_000
# What a spreadsheet reads as the start of a formula (OWASP's list), and
# the quote that defuses it.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DEFUSE = "'"
# How subscribed each state is: a row's status may lower a new
# subscriber's, never raise it.
_RANK = {
    SubscriberStatus.CONFIRMED: 2,
    SubscriberStatus.PENDING: 1,
    SubscriberStatus.UNSUBSCRIBED: 0,
    SubscriberStatus.BOUNCED: 0,
}
_LEFT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED)
# What a suppressed new subscriber is stored as: its address failed, or its
# owner asked (or complained), to get no more mail.
_SUPPRESSED_AS = {
    SuppressionReason.UNKNOWN_USER: SubscriberStatus.BOUNCED,
    SuppressionReason.HARD_BOUNCE: SubscriberStatus.BOUNCED,
    SuppressionReason.SOFT_BOUNCES: SubscriberStatus.BOUNCED,
    SuppressionReason.COMPLAINT: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.MANUAL: SubscriberStatus.UNSUBSCRIBED,
}
E = TypeVar("E", SubscriberStatus, SuppressionReason)


@dataclass
class CSVReport:
    """What an import did: counts, and a line for each row held back or rejected."""

    added: int = 0
    merged: int = 0
    suppressed: int = 0  # addresses newly put on the suppression list
    # New subscribers stored unsubscribed or bounced because their address
    # is suppressed: ``email: suppressed (reason); stored as status``.
    held_back: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # what to do about the rejections
    delimiter: str = ","  # as found in the header
    # Categories rows chose that no tool has yet (accepted as new, or while
    # no tool has a category): their readers get nothing of them until one does.
    untooled: set[str] = field(default_factory=set)

    @property
    def imported(self) -> int:
        """How many rows were imported (each row adds or merges)."""
        return self.added + self.merged


@dataclass(frozen=True)
class _Row:
    """One subscriber as a file describes it; None where the file is silent."""

    who: Candidate
    status: SubscriberStatus | None = None
    suppressed: SuppressionReason | None = None
    created_at: dt.datetime | None = None
    confirmed_at: dt.datetime | None = None
    unsubscribed_at: dt.datetime | None = None
    paused_until: dt.datetime | None = None

    def merged_with(self, later: _Row) -> _Row:
        """This row and a later one for the same address: the least
        subscribed status, the first of everything else."""
        status = self.status
        if later.status is not None and (status is None or _RANK[later.status] < _RANK[status]):
            status = later.status
        return _Row(
            Candidate(
                self.who.email,
                self.who.name or later.who.name,
                merge_categories(self.who.categories, later.who.categories),
                self.who.timezone or later.who.timezone,
            ),
            status=status,
            suppressed=self.suppressed or later.suppressed,
            created_at=self.created_at or later.created_at,
            confirmed_at=self.confirmed_at or later.confirmed_at,
            unsubscribed_at=self.unsubscribed_at or later.unsubscribed_at,
            paused_until=self.paused_until or later.paused_until,
        )


def import_csv(
    sessions: sessionmaker[Session],
    path: Path,
    status: SubscriberStatus = SubscriberStatus.CONFIRMED,
    source: str = "csv",
    new_categories: Iterable[str] = (),
) -> CSVReport:
    """Import ``path``; new subscribers get ``status`` unless their row holds
    them back. A row's categories are checked as by
    :class:`subscribers.roster.CategoryCheck` (``new_categories`` are
    accepted before any tool has them). Returns the counts and one message
    per rejected row (``file:line: field: reason``); raises
    :class:`InputError` before importing anything when the file cannot be
    read or its header is not one an import reads."""
    report = CSVReport()
    with sessions() as session:
        check = CategoryCheck.of(session, new_categories)
    rows = _merged_rows(path, check, report)
    now = process_now()
    emails = list(rows)
    for start in range(0, len(emails), CHUNK):
        chunk = emails[start : start + CHUNK]
        with sessions.begin() as session:
            stored = {
                s.email: s
                for s in session.scalars(select(Subscriber).where(Subscriber.email.in_(chunk)))
            }
            held = dict(
                session.execute(
                    select(Suppression.email, Suppression.reason).where(
                        Suppression.email.in_(chunk)
                    )
                ).all()
            )
            added: list[Subscriber] = []
            suppressing: list[tuple[str, SuppressionReason]] = []
            for email in chunk:
                row = rows[email]
                existing = stored.get(email)
                if existing is None:
                    # The first reason stays, as in the store.
                    reason = held.get(email) or row.suppressed
                    subscriber = _new_subscriber(row, status, source, now, reason)
                    session.add(subscriber)
                    added.append(subscriber)
                    report.added += 1
                    if subscriber.status != _row_status(row, status):
                        report.held_back.append(
                            f"{email}: suppressed ({reason}); stored as {subscriber.status}"
                        )
                else:
                    # Their categories and zone are the subscriber's own
                    # choice (from the preferences page): a file fills in a
                    # missing name or zone and changes nothing else.
                    existing.name = existing.name or row.who.name
                    existing.timezone = existing.timezone or row.who.timezone
                    report.merged += 1
                if row.suppressed is not None and email not in held:
                    suppressing.append((email, row.suppressed))
            # A new subscriber's webhook events in order: created, then suppressed.
            session.flush()
            record_arrivals(session, [(s.id, s.status) for s in added])
            for email, reason in suppressing:
                suppress(session, email, reason, f"imported from {path.name}")
                report.suppressed += 1
    return report


def _merged_rows(path: Path, check: CategoryCheck, report: CSVReport) -> dict[str, _Row]:
    """The file's good rows by address, rows for one address merged into one;
    bad rows are reported."""
    rows: dict[str, _Row] = {}
    for line, cells in _rows(path, report):
        try:
            found = _parse(cells, check)
        except InvalidField as error:
            report.rejected.append(f"{path}:{line}: {error}")
            if error.hint and error.hint not in report.hints:
                report.hints.append(error.hint)
            continue
        report.untooled.update(check.untooled(found.who.categories))
        earlier = rows.get(found.who.email)
        if earlier is not None:
            report.merged += 1
            found = earlier.merged_with(found)
        rows[found.who.email] = found
    return rows


def defused(value: str) -> str:
    """``value`` as a spreadsheet shows it but never runs it."""
    return DEFUSE + value if value.startswith((*FORMULA_START, DEFUSE)) else value


def undefused(value: str) -> str:
    """``value`` with the quote :func:`defused` put before it taken off."""
    if value.startswith(DEFUSE) and value[1:].startswith((*FORMULA_START, DEFUSE)):
        return value[1:]
    return value


def _parse(cells: dict[str, str], check: CategoryCheck) -> _Row:
    """One row's cells, validated; raises :class:`InvalidField`."""
    cells = {k: undefused(v) for k, v in cells.items()}
    return _Row(
        candidate(
            cells.get("email") or "",
            cells.get("name"),
            (cells.get("categories") or "").split(";"),
            check,
            cells.get("timezone"),
        ),
        status=_choice(cells, "status", SubscriberStatus),
        suppressed=_choice(cells, "suppressed", SuppressionReason),
        created_at=_moment(cells, "created_at"),
        confirmed_at=_moment(cells, "confirmed_at"),
        unsubscribed_at=_moment(cells, "unsubscribed_at"),
        paused_until=_moment(cells, "paused_until"),
    )


def _new_subscriber(
    row: _Row,
    default: SubscriberStatus,
    source: str,
    now: dt.datetime,
    suppressed: str | None,
) -> Subscriber:
    """The subscriber ``row`` describes, in ``default`` unless its row holds it
    back, or its address is ``suppressed`` (for that reason)."""
    status = _row_status(row, default)
    if suppressed is not None and status not in _LEFT:
        status = _SUPPRESSED_AS[SuppressionReason(suppressed)]
    confirmed_at = None
    if status == SubscriberStatus.CONFIRMED:
        confirmed_at = row.confirmed_at or now
    elif status in _LEFT:
        confirmed_at = row.confirmed_at  # when they had confirmed, if the file knows
    subscriber = Subscriber(
        email=row.who.email,
        name=row.who.name,
        categories=row.who.categories,
        timezone=row.who.timezone,
        status=status,
        source=source,
        confirmed_at=confirmed_at,
        unsubscribed_at=(
            row.unsubscribed_at or now if status == SubscriberStatus.UNSUBSCRIBED else None
        ),
        paused_until=row.paused_until if status == SubscriberStatus.CONFIRMED else None,
    )
    if row.created_at is not None:
        subscriber.created_at = row.created_at
    return subscriber


def _row_status(row: _Row, default: SubscriberStatus) -> SubscriberStatus:
    """``default``, or the status of ``row`` if that is less subscribed."""
    if row.status is not None and _RANK[row.status] < _RANK[default]:
        return row.status
    return default


def _choice(cells: dict[str, str], name: str, kind: type[E]) -> E | None:
    value = (cells.get(name) or "").strip().lower()
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidField(name, f"{value[:40]!r} is not one of {allowed}") from None


def _moment(cells: dict[str, str], name: str) -> dt.datetime | None:
    value = (cells.get(name) or "").strip()
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(name, f"{value[:40]!r} is not a date and time (ISO 8601)") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _rows(path: Path, report: CSVReport) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row with its line number; rows that cannot be read are
    reported. A file that cannot be read, or whose header is not one an
    import reads, raises :class:`InputError` before the first row."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise InputError(str(path), [f"cannot read: {error.strerror}"], hint=NOTHING) from None
    with handle:
        lines = _decoded(handle, path, report)
        first = next(lines, "")
        if report.rejected:  # the header is not UTF-8
            raise InputError(str(path), report.rejected, hint=NOTHING)
        report.delimiter = _delimiter(first)
        reader = csv.reader(itertools.chain([first], lines), delimiter=report.delimiter)
        fields = _columns(path, reader, first)
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                report.rejected.append(_unread(path, start, reader.line_num, str(error)))
                continue
            if not cells:
                continue  # a blank line
            problem = _row_problem(fields, cells, start, reader.line_num)
            if problem:
                report.rejected.append(_unread(path, start, reader.line_num, problem))
                continue
            yield start, dict(zip(fields, cells, strict=False))  # a short row: blanks


def _row_problem(fields: list[str], cells: list[str], start: int, end: int) -> str | None:
    """What keeps the row read from line ``start`` to ``end`` from being
    imported, if anything."""
    if end > start:
        # A quoted value holds a line break: a name, address or category
        # never does, but a quote left open takes in the lines after it.
        field = next((f for f, v in zip(fields, cells, strict=False) if "\n" in v or "\r" in v), "")
        return f"{field + ': ' if field else ''}a quoted value runs on to line {end}"
    if len(cells) > len(fields):
        return "more fields than the header names"
    long = next((f for f, v in zip(fields, cells, strict=False) if len(v) > MAX_FIELD), None)
    return f"{long}: longer than {MAX_FIELD} characters" if long else None


def _unread(path: Path, start: int, end: int, problem: str) -> str:
    """The report of the row from line ``start`` to ``end`` that is not
    imported: a row across lines (a quote not closed?) names the lines it took."""
    if end <= start:
        return f"{path}:{start}: {problem}"
    return (
        f"{path}:{start}: {problem} (is a closing quote missing?); "
        f"lines {start}-{end} are not imported"
    )


def _delimiter(header: str) -> str:
    """The delimiter of a file whose first line is ``header``: the first of
    :data:`DELIMITERS` that makes ``email`` a column, else the one that makes
    the most columns (for the error to name them)."""
    named = {d: _names(header, d) for d in DELIMITERS}
    found = next((d for d in DELIMITERS if "email" in named[d]), None)
    return found or max(DELIMITERS, key=lambda d: len(named[d]))


def _names(header: str, delimiter: str) -> list[str]:
    """The column names ``header`` holds, separated by ``delimiter``."""
    try:
        return [name.strip().lower() for name in next(csv.reader([header], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return []


def _columns(path: Path, reader: Iterator[list[str]], line: str) -> list[str]:
    """The column names of the header, the first row of ``reader`` (whose
    text is ``line``); raises :class:`InputError` naming each column an
    import does not read, and a missing ``email``."""
    try:
        header = next(reader, [])
    except csv.Error as error:
        raise InputError(
            str(path), [f"{path}:1: cannot read the header: {error}"], hint=NOTHING
        ) from None
    if not header:
        empty = "the file is empty" if not line else "line 1 is blank"
        raise InputError(str(path), [f"{path}:1: no header row ({empty})"], hint=NOTHING)
    names = [name.strip().lower() for name in header]
    problems = []
    if "email" not in names:
        problems.append(f"{path}:1: no 'email' column (the header reads {line.strip()[:200]!r})")
    for number, name in enumerate(names, start=1):
        if name not in COLUMNS:
            close = difflib.get_close_matches(name, COLUMNS, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"{path}:1: column {number}, {name[:40]!r}, is not one an import reads{guess}"
            )
        elif names.index(name) < number - 1:
            problems.append(f"{path}:1: column {number}, {name!r}, is there twice")
    if problems:
        hint = f"the columns an import reads: {', '.join(COLUMNS)}; {NOTHING}"
        raise InputError(str(path), problems, hint=hint)
    return names


def _decoded(handle: BinaryIO, path: Path, report: CSVReport) -> Iterator[str]:
    """The file's lines as text. A line that is not UTF-8 is reported and
    read as blank (which the CSV reader skips), so line numbers stay true."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            report.rejected.append(f"{path}:{number}: not UTF-8 text (byte {error.start + 1})")
            yield "\r\n"
