"""The editor's say over a built edition: approve it, hold it, release it.

Each is recorded on the edition with who and when (``approved_at``/
``approved_by``, ``held_at``/``held_by``). Under ``DIGEST_REQUIRE_APPROVAL``
the clock starts only an approved edition; a held one is never started, by
the clock or by ``digest send``, until it is released. Approving does not
release a hold, and rebuilding an edition withdraws its approval (the
editor approved what they saw).

Every change is one conditional ``UPDATE`` on a ready edition, so it cannot
slip in after the edition has started: the start is conditional too.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.deliver.editions import EditionStateError, find_edition
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week
from worker.store.models import Edition

# The stage's logger name, kept as operators search for it (docs/observability.md).
log = logging.getLogger("worker.approvals")


@dataclass(frozen=True)
class Marks:
    """An edition's state and the editor's marks on it."""

    week: str
    status: str
    approved_at: dt.datetime | None
    approved_by: str | None
    held_at: dt.datetime | None
    held_by: str | None


def approve_edition(
    sessions: sessionmaker[Session], week: Week, settings: Settings, by: str, now: dt.datetime
) -> Marks:
    """Approve the week's ready edition for sending (again: the latest
    approval is the one kept). A hold stays in force."""
    marks = _mark(sessions, week, settings, "approve", approved_at=now, approved_by=by)
    log.info("edition approved", extra={"edition": str(week), "by": by})
    return marks


def hold_edition(
    sessions: sessionmaker[Session], week: Week, settings: Settings, by: str, now: dt.datetime
) -> Marks:
    """Hold the week's ready edition: nothing starts it until it is released."""
    marks = _mark(sessions, week, settings, "hold", held_at=now, held_by=by)
    log.info("edition held", extra={"edition": str(week), "by": by})
    return marks


def release_edition(
    sessions: sessionmaker[Session], week: Week, settings: Settings, by: str
) -> Marks:
    """Release the hold on the week's ready edition (who held it and when
    is forgotten; the log keeps the release and who made it)."""
    with sessions() as session:
        edition = find_edition(session, settings.list_id, str(week))
        was_held = edition is not None and edition.held_at is not None
    marks = _mark(sessions, week, settings, "release", held_at=None, held_by=None)
    if was_held:
        log.info("hold released", extra={"edition": str(week), "by": by})
    return marks


def _mark(
    sessions: sessionmaker[Session],
    week: Week,
    settings: Settings,
    action: str,
    **values: object,
) -> Marks:
    with sessions.begin() as session:
        changed = session.execute(
            update(Edition)
            .where(
                Edition.list_id == settings.list_id,
                Edition.week == str(week),
                Edition.status == EditionStatus.READY,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        edition = find_edition(session, settings.list_id, str(week))
        if edition is None:
            raise EditionStateError(
                f"{week}: there is no edition for that week yet; build it first"
            )
        if not changed.rowcount:
            raise EditionStateError(_refusal(week, action, edition.status))
        return _marks(edition)


def _refusal(week: Week, action: str, status: str) -> str:
    done = {"approve": "approved", "hold": "held", "release": "released"}[action]
    message = f"{week}: the edition is {status}; only a ready edition can be {done}"
    if action == "hold" and status in (EditionStatus.SENDING, EditionStatus.PAUSED):
        message += " (to stop a send under way: digest pause or digest cancel)"
    return message


def _marks(edition: Edition) -> Marks:
    return Marks(
        week=edition.week,
        status=edition.status,
        approved_at=edition.approved_at,
        approved_by=edition.approved_by,
        held_at=edition.held_at,
        held_by=edition.held_by,
    )
