"""Editions: built once per week, started once, and controlled while sending.

    (none) ──build──▶ ready ──start──▶ sending ⇄ paused
           └─nothing new─▶ skipped        │ └──cancel──▶ cancelled
                                          └─all done──▶ sent

A ready edition holds one render per segment (``edition_segment``).
Starting it materialises its deliveries with one ``INSERT … SELECT``;
workers (:mod:`worker.deliver.claims`, :mod:`worker.deliver.runner`) then claim
and send them. The edition's state, not the
caller, decides what happens, so every step can be run again safely.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, exists, func, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.deliver.mornings import due_at_expression
from worker.domain.clicks import edition_links
from worker.domain.segments import EVERYONE
from worker.domain.states import DeliveryStatus, EditionStatus, SubscriberStatus
from worker.domain.weeks import Week
from worker.errors import DigestError
from worker.now import process_now
from worker.store import store_now, upsert
from worker.store.models import Delivery, Edition, EditionSegment, Subscriber, receiving

if TYPE_CHECKING:
    from worker.render.renderer import Renderer

# The stage's logger name, kept as operators search for it (docs/observability.md).
log = logging.getLogger("worker.editions")


class EditionStateError(DigestError):
    """The edition is not in a state that allows what was asked."""


@dataclass(frozen=True)
class BuildResult:
    edition_id: int
    week: str
    status: str
    segments: tuple[str, ...]  # segment keys rendered
    subject: str | None
    built: bool  # False when an existing edition was kept as it was


@dataclass(frozen=True)
class Counts:
    """An edition's deliveries by state."""

    edition_id: int
    week: str
    status: str
    queued: int
    sent: int
    deferred: int
    failed: int
    suppressed: int
    started_at: dt.datetime | None
    sent_at: dt.datetime | None
    # Set by start_edition: True only for the call that moved it ready → sending.
    started: bool = False
    # Messages sent per second since the edition started, until it was sent
    # or until it was counted, by the store's clock (which stamps both ends).
    rate: float | None = None

    @property
    def total(self) -> int:
        return self.queued + self.sent + self.deferred + self.failed + self.suppressed

    @property
    def pending(self) -> int:
        return self.queued + self.deferred


def build_edition(
    sessions: sessionmaker[Session], week: Week, settings: Settings, renderer: Renderer
) -> BuildResult:
    """Create (or refresh) the week's edition: one render per segment.

    A ready or skipped edition without deliveries is rebuilt from the store,
    so editors see their latest data; once deliveries exist it is never
    touched again. A week with nothing new is recorded as skipped.
    """
    try:
        return _build(sessions, week, settings, renderer)
    except IntegrityError:
        # Another process created the edition meanwhile: look again.
        return _build(sessions, week, settings, renderer)


def _build(
    sessions: sessionmaker[Session], week: Week, settings: Settings, renderer: Renderer
) -> BuildResult:
    with sessions.begin() as session:
        edition = find_edition(session, settings.list_id, str(week), lock=True)
        if edition is not None and not rebuildable(session, edition):
            return _built(edition, built=False)
        # Gathering and rendering are imported when an edition is built: a
        # worker that only sends never needs Jinja, Markdown or YAML.
        from worker.gather import gather_week

        digest = gather_week(session, week, settings)
        keys = {EVERYONE, *segment_keys(session)}
        if edition is None:
            edition = Edition(list_id=settings.list_id, week=str(week), status=EditionStatus.READY)
            session.add(edition)
        elif edition.approved_at is not None:
            # An approval is of what the editor saw: a rebuild may differ.
            edition.approved_at = edition.approved_by = None
            log.warning("approval withdrawn: edition rebuilt", extra={"edition": str(week)})
        edition.segments.clear()
        session.flush()
        if digest.is_empty:
            edition.status = EditionStatus.SKIPPED
            edition.subject = None
            log.info("edition skipped: nothing new this week", extra={"edition": str(week)})
            return _built(edition, built=True)
        # Content links counted for this edition, named by its week.
        clicks = edition_links(settings, str(week))
        for key in sorted(keys):
            rendered = renderer.render_segment(digest, key, clicks)
            if rendered is None:
                continue  # its subscribers have nothing to read this week
            edition.segments.append(
                EditionSegment(
                    segment=key, subject=rendered.subject, html=rendered.html, text=rendered.text
                )
            )
        edition.status = EditionStatus.READY
        edition.subject = edition.segments[0].subject
        session.flush()
        log.info("edition built", extra={"edition": str(week), "segments": len(edition.segments)})
        return _built(edition, built=True)


def start_edition(
    sessions: sessionmaker[Session],
    week: Week,
    settings: Settings,
    *,
    approved_only: bool = False,
    send_at: dt.datetime | None = None,
) -> Counts:
    """Materialise a ready edition's deliveries (once) and mark it sending;
    the counts say ``started`` when this call made the move (of two calls
    at once, one does).

    ``send_at`` is the week's send time: with DIGEST_SEND_LOCAL on, each
    reader's delivery is due when its wall-clock date and time in
    DIGEST_TIMEZONE comes in the reader's own zone (at once if that has
    passed). Without it, or with the setting off, every delivery is due now.

    A held edition is refused (EditionStateError); with ``approved_only``
    (the clock, under DIGEST_REQUIRE_APPROVAL) one not yet approved is left
    ready. Raises EditionStateError when the week has no edition (build it first).
    """
    with sessions.begin() as session:
        # The row lock serialises the ready → sending step between processes
        # on PostgreSQL; SQLite has no row locks, so the step is also a
        # conditional UPDATE, which only one process can make (and which
        # misses nothing: a hold or approval made meanwhile counts).
        edition = find_edition(session, settings.list_id, str(week), lock=True)
        if edition is None:
            raise EditionStateError(
                f"no edition for {week}: build it first", hint=f"digest build --week {week}"
            )
        if edition.status == EditionStatus.READY and edition.held_at is not None:
            raise EditionStateError(
                f"{week}: the edition is held (by {edition.held_by}); "
                "release it first: digest hold --release"
            )
        created = 0
        started = False
        ready = [
            Edition.id == edition.id,
            Edition.status == EditionStatus.READY,
            Edition.held_at.is_(None),
        ]
        if approved_only:
            ready.append(Edition.approved_at.is_not(None))
        moved = session.execute(
            update(Edition)
            .where(*ready)
            .values(status=EditionStatus.SENDING, started_at=store_now(session))
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount:
            started = True
            due_at = None
            if settings.digest_send_local and send_at is not None:
                due_at = due_at_expression(session, settings, send_at)
            created = materialise_deliveries(session, edition.id, due_at)
            log.info("edition started", extra={"edition": str(week), "queued": created})
        edition_id = edition.id
    if created:
        refresh_statistics(sessions)
    return dataclasses.replace(edition_counts(sessions, edition_id), started=started)


def refresh_statistics(sessions: sessionmaker[Session]) -> None:
    """Tell PostgreSQL's planner about the deliveries just made: until
    autovacuum gets to a freshly filled table, it plans as if it were empty,
    and sorted a million rows on disk for every claim."""
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE delivery"))


def materialise_deliveries(
    session: Session, edition_id: int, due_at: ColumnElement[dt.datetime] | None = None
) -> int:
    """One queued delivery per confirmed, unsuppressed subscriber whose
    segment was rendered, in one ``INSERT … SELECT``; returns how many.
    ``due_at`` (an expression on ``Subscriber``) dates each; none: due now."""
    columns = ["edition_id", "subscriber_id", "segment_id", "status", "attempts"]
    values: list[ColumnElement[object]] = [
        literal(edition_id),
        Subscriber.id,
        EditionSegment.id,
        literal(DeliveryStatus.QUEUED.value),
        literal(0),
    ]
    if due_at is not None:
        columns.append("due_at")
        values.append(due_at)
    eligible = (
        select(*values)
        .join(
            EditionSegment,
            and_(
                EditionSegment.edition_id == edition_id,
                EditionSegment.segment == Subscriber.categories,
            ),
        )
        .where(receiving(process_now()))
    )
    # A subscriber who already has the delivery keeps it. ON CONFLICT rather
    # than an anti-join on delivery: the planner's estimate of a table being
    # filled by this very statement can be off badly enough to scan it once
    # per row. Core execution on the session's connection, asking for the row
    # count: SQLAlchemy keeps it for INSERT only when told to.
    result = session.connection().execute(
        upsert(session, Delivery)
        .from_select(columns, eligible)
        .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
        .execution_options(preserve_rowcount=True)
    )
    return result.rowcount


def set_paused(
    sessions: sessionmaker[Session], week: Week, settings: Settings, paused: bool
) -> str:
    """Pause a sending edition, or resume a paused one; workers honour it at
    their next claim. Returns the new status."""
    wanted_from = EditionStatus.SENDING if paused else EditionStatus.PAUSED
    with sessions.begin() as session:
        edition = _existing(session, week, settings)
        if edition.status != wanted_from:
            raise EditionStateError(
                f"{week}: the edition is {edition.status}; only a {wanted_from.value} "
                f"edition can be {'paused' if paused else 'resumed'}"
            )
        edition.status = EditionStatus.PAUSED if paused else EditionStatus.SENDING
        return edition.status


def cancel_edition(sessions: sessionmaker[Session], week: Week, settings: Settings) -> Counts:
    """Stop an edition for good; deliveries not yet sent stay unsent."""
    with sessions.begin() as session:
        edition = _existing(session, week, settings)
        if edition.status in (EditionStatus.SENT, EditionStatus.SKIPPED, EditionStatus.CANCELLED):
            raise EditionStateError(f"{week}: the edition is {edition.status}; nothing to cancel")
        edition.status = EditionStatus.CANCELLED
        edition_id = edition.id
    return edition_counts(sessions, edition_id)


def edition_counts(sessions: sessionmaker[Session], edition_id: int) -> Counts:
    """The edition's deliveries counted by state, in one query."""
    with sessions() as session:
        edition = session.get_one(Edition, edition_id)
        rows = session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.edition_id == edition_id)
            .group_by(Delivery.status)
        ).all()
        counted_at = store_now(session)
    by_status = {status: count for status, count in rows}
    sent = by_status.get(DeliveryStatus.SENT, 0)
    return Counts(
        edition_id=edition.id,
        week=edition.week,
        status=edition.status,
        queued=by_status.get(DeliveryStatus.QUEUED, 0),
        sent=sent,
        deferred=by_status.get(DeliveryStatus.DEFERRED, 0),
        failed=by_status.get(DeliveryStatus.FAILED, 0),
        suppressed=by_status.get(DeliveryStatus.SUPPRESSED, 0),
        started_at=edition.started_at,
        sent_at=edition.sent_at,
        rate=_rate(sent, edition.started_at, edition.sent_at or counted_at),
    )


def _rate(sent: int, started_at: dt.datetime | None, end: dt.datetime) -> float | None:
    """Messages sent per second from ``started_at`` to ``end``; None before
    the first is sent."""
    if started_at is None or not sent:
        return None
    seconds = (end - started_at).total_seconds()
    return sent / seconds if seconds > 0 else None


def find_edition(
    session: Session, list_id: str, week: str, *, lock: bool = False
) -> Edition | None:
    query = select(Edition).where(Edition.list_id == list_id, Edition.week == week)
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def _existing(session: Session, week: Week, settings: Settings) -> Edition:
    edition = find_edition(session, settings.list_id, str(week), lock=True)
    if edition is None:
        raise EditionStateError(
            f"{week}: there is no edition for that week",
            hint="digest status lists the last editions",
        )
    return edition


def rebuildable(session: Session, edition: Edition) -> bool:
    """Whether a build may still replace ``edition``'s renders: it is ready
    or skipped, and has no deliveries."""
    if edition.status not in (EditionStatus.READY, EditionStatus.SKIPPED):
        return False
    return not session.scalar(select(exists().where(Delivery.edition_id == edition.id)))


def segment_keys(session: Session) -> list[str]:
    """The category choices of confirmed subscribers: one render each."""
    return list(
        session.scalars(
            select(Subscriber.categories)
            .where(Subscriber.status == SubscriberStatus.CONFIRMED)
            .distinct()
        )
    )


def _built(edition: Edition, *, built: bool) -> BuildResult:
    return BuildResult(
        edition_id=edition.id,
        week=edition.week,
        status=edition.status,
        segments=tuple(s.segment for s in edition.segments),
        subject=edition.subject,
        built=built,
    )
