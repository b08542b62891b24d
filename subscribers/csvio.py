"""Subscriber CSV import.

The file needs a header row with an ``email`` column; ``name`` and
``categories`` (separated by ``;``) are optional. Good rows are imported,
bad rows are reported with their line number, and nothing else is lost.
Duplicates are merged: within the file, and with subscribers already stored
(names fill gaps, category choices are united). An imported row never changes
the consent state of a stored subscriber.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.roster import Candidate, InvalidField, candidate, merge_categories
from worker.store.models import Subscriber, SubscriberStatus

CHUNK = 500
# A row's fields beyond this are not a subscriber list but something else.
MAX_FIELD = 10_000


@dataclass
class CSVReport:
    added: int = 0
    merged: int = 0
    rejected: list[str] = field(default_factory=list)


def import_csv(
    sessions: sessionmaker[Session],
    path: Path,
    status: SubscriberStatus = SubscriberStatus.CONFIRMED,
    source: str = "csv",
) -> CSVReport:
    """Import ``path``; new subscribers get ``status``. Returns the counts and
    one message per rejected row (``file:line: field: reason``)."""
    report = CSVReport()
    rows: dict[str, Candidate] = {}
    for line, row in _rows(path, report):
        try:
            found = candidate(
                row.get("email") or "",
                row.get("name"),
                (row.get("categories") or "").split(";"),
            )
        except InvalidField as error:
            report.rejected.append(f"{path}:{line}: {error}")
            continue
        earlier = rows.get(found.email)
        if earlier is not None:
            report.merged += 1
            found = Candidate(
                found.email,
                earlier.name or found.name,
                merge_categories(earlier.categories, found.categories),
            )
        rows[found.email] = found
    now = dt.datetime.now(dt.UTC)
    emails = list(rows)
    for start in range(0, len(emails), CHUNK):
        chunk = emails[start : start + CHUNK]
        with sessions.begin() as session:
            stored = {
                s.email: s
                for s in session.scalars(select(Subscriber).where(Subscriber.email.in_(chunk)))
            }
            for email in chunk:
                row = rows[email]
                existing = stored.get(email)
                if existing is None:
                    session.add(
                        Subscriber(
                            email=email,
                            name=row.name,
                            categories=row.categories,
                            status=status,
                            source=source,
                            confirmed_at=now if status == SubscriberStatus.CONFIRMED else None,
                        )
                    )
                    report.added += 1
                else:
                    # Their categories are the subscriber's own choice (from
                    # the preferences page): a file fills in a missing name
                    # and changes nothing else.
                    existing.name = existing.name or row.name
                    report.merged += 1
    return report


def _rows(path: Path, report: CSVReport) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row with its line number; rows that cannot be read are reported."""
    try:
        handle = path.open("rb")
    except OSError as error:
        report.rejected.append(f"{path}: cannot read: {error.strerror}")
        return
    with handle:
        reader = csv.DictReader(_decoded(handle, path, report))
        try:
            header = reader.fieldnames or []
        except csv.Error as error:
            report.rejected.append(f"{path}:1: cannot read the header: {error}")
            return
        fields = [h.strip().lower() for h in header]
        if "email" not in fields:
            report.rejected.append(f"{path}:1: no 'email' column in the header")
            return
        reader.fieldnames = fields
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                report.rejected.append(f"{path}:{line}: {error}")
                continue
            if None in row:
                report.rejected.append(f"{path}:{line}: more fields than the header names")
                continue
            long = next((k for k, v in row.items() if v and len(v) > MAX_FIELD), None)
            if long:
                report.rejected.append(f"{path}:{line}: {long}: longer than {MAX_FIELD} characters")
                continue
            yield line, {k: v for k, v in row.items() if v is not None}


def _decoded(handle: BinaryIO, path: Path, report: CSVReport) -> Iterator[str]:
    """The file's lines as text. A line that is not UTF-8 is reported and
    read as blank (which the CSV reader skips), so line numbers stay true."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            report.rejected.append(f"{path}:{number}: not UTF-8 text (byte {error.start + 1})")
            yield "\r\n"
