"""Subscriber CSV export: to any text stream, or to a file that only its
owner can read and that appears whole or not at all.

One row per subscriber with the columns of :data:`EXPORT_FIELDS`, then one
row per suppressed address that has no subscriber (status
``unsubscribed``, dated when it was suppressed), so that an import
(:mod:`subscribers.csvio`) brings the suppression list back too. Values a
spreadsheet would run as a formula are defused (:func:`subscribers.csvio.defused`).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from sqlalchemy import Select, exists, literal, null, select
from sqlalchemy.orm import Session

from subscribers.csvio import CHUNK, defused
from worker.domain.segments import segment_categories
from worker.domain.states import SubscriberStatus
from worker.domain.words import plural
from worker.errors import DigestError
from worker.store.models import Subscriber, Suppression

EXPORT_FIELDS = (
    "email",
    "name",
    "status",
    "categories",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "suppressed",
    # Added later, each last, so that older files' columns stay where they were.
    "paused_until",
    "timezone",
)


class Exported(NamedTuple):
    """How many rows an export wrote, of each kind."""

    subscribers: int
    suppressed: int  # suppressed addresses without a subscriber

    def described(self) -> str:
        """The counts in words: ``6 subscribers and 1 other suppressed address``."""
        subscribers = plural(self.subscribers, "subscriber")
        if not self.suppressed:
            return subscribers
        return f"{subscribers} and {plural(self.suppressed, 'other suppressed address')}"


def export_file(
    session: Session, path: Path, *, status: SubscriberStatus | None = None
) -> Exported:
    """:func:`export_csv` into the file at ``path``, readable by its owner
    alone, and replaced whole or not at all (written beside it first).
    Raises :class:`DigestError` naming ``path`` when it cannot be written."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        # Personal data: mode 0600 from the moment the file exists.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", newline="", encoding="utf-8") as out:
            count = export_csv(session, out, status=status)
        partial.replace(path)
    except OSError as error:
        raise DigestError(f"{path}: cannot write: {error.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return count


def export_csv(
    session: Session, out: TextIO, *, status: SubscriberStatus | None = None
) -> Exported:
    """Write the subscribers (only those in ``status``, if given) to ``out``
    as CSV with a header row, oldest first, then the suppressed addresses
    that have no subscriber, as ``unsubscribed`` since their suppression.
    ``out`` should be opened with ``newline=""``."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    counts = [0, 0]
    for kind, query in enumerate(_export_queries(status)):
        rows = session.execute(query.execution_options(yield_per=CHUNK))
        for email, name, state, categories, created, confirmed, left, reason, paused, zone in rows:
            writer.writerow(
                defused(value)
                for value in (
                    email,
                    name or "",
                    state,
                    ";".join(segment_categories(categories)),
                    _timestamp(created),
                    _timestamp(confirmed),
                    _timestamp(left),
                    reason or "",
                    # A pause means something only while confirmed.
                    _timestamp(paused) if state == SubscriberStatus.CONFIRMED else "",
                    zone or "",
                )
            )
            counts[kind] += 1
    return Exported(*counts)


def _export_queries(status: SubscriberStatus | None) -> list[Select[Any]]:
    """The queries of an export's rows, in :data:`EXPORT_FIELDS` order: the
    subscribers in ``status`` (or all), then, when unsubscribed ones are
    wanted, the suppressed addresses that have no subscriber."""
    subscribers = (
        select(
            Subscriber.email,
            Subscriber.name,
            Subscriber.status,
            Subscriber.categories,
            Subscriber.created_at,
            Subscriber.confirmed_at,
            Subscriber.unsubscribed_at,
            Suppression.reason,
            Subscriber.paused_until,
            Subscriber.timezone,
        )
        .outerjoin(Suppression, Suppression.email == Subscriber.email)
        .order_by(Subscriber.id)
    )
    if status is not None:
        subscribers = subscribers.where(Subscriber.status == status)
    if status not in (None, SubscriberStatus.UNSUBSCRIBED):
        return [subscribers]
    # An import recreates the suppression from such a row (with an
    # unsubscribed subscriber, who receives nothing).
    alone = (
        select(
            Suppression.email,
            null(),
            literal(SubscriberStatus.UNSUBSCRIBED.value),
            literal(""),
            Suppression.created_at,
            null(),
            Suppression.created_at,
            Suppression.reason,
            null(),
            null(),
        )
        .where(~exists().where(Subscriber.email == Suppression.email))
        .order_by(Suppression.id)
    )
    return [subscribers, alone]


def _timestamp(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds") if moment else ""
