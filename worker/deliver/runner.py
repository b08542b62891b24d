"""Deliveries: claimed in batches under a lease, sent, recorded, retried.

A worker claims the lowest pending deliveries of a sending edition
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share
one edition; one atomic ``UPDATE`` on SQLite), leases them for
``lease_seconds``, sends them over one backend connection, and records the
batch's results. A worker killed mid-batch leaves a lease that expires; the
batch is then claimed again (the only way a recipient can get a second copy).

Transient failures are deferred with exponential backoff and jitter until
``max_attempts`` or ``max_age_hours``; permanent ones fail, and an unknown
user (5.1.x) is suppressed. Subscribers who left or were suppressed while the
edition was sending are skipped from the next claimed batch on.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from worker.compose import EditionRef, MessageTemplate, Recipient, SegmentParts
from worker.config import Settings
from worker.editions import edition_counts, start_edition
from worker.errors import MailError, driver_words
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult
from worker.store import store_now, upsert
from worker.store.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionSegment,
    EditionStatus,
    Subscriber,
    Suppression,
    receiving,
    utcnow,
)
from worker.weeks import Week

log = logging.getLogger("worker.deliver")

PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


@dataclass
class SendReport:
    """What one worker run did."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    batches: int = 0
    editions: set[int] = field(default_factory=set)


#: Where a worker is in each sending edition's queue: the highest delivery id
#: it has leased there. Claims go on from it (keyset, as listmonk does)
#: rather than reading past every delivery already sent.
Cursor = dict[int, int]


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    edition_id: int
    week: str
    started_at: dt.datetime | None
    segment_id: int
    attempts: int
    recipient: Recipient


def claim_batch(
    sessions: sessionmaker[Session],
    worker_id: str,
    settings: Settings,
    *,
    edition_id: int | None = None,
    now: dt.datetime | None = None,
    cursor: Cursor | None = None,
) -> tuple[list[Claimed], int]:
    """Lease the next pending deliveries of a sending edition to ``worker_id``.

    Returns the deliveries to send, and how many claimed deliveries were
    suppressed instead (their subscriber left or was suppressed meanwhile).
    A worker passes its ``cursor`` (see :data:`Cursor`).
    """
    with sessions.begin() as session:
        ids = _lease_next(session, worker_id, settings, edition_id, now, cursor)
        return _recipients(session, worker_id, ids) if ids else ([], 0)


def lease_batch(
    sessions: sessionmaker[Session],
    worker_id: str,
    settings: Settings,
    *,
    edition_id: int | None = None,
    cursor: Cursor | None = None,
) -> list[int]:
    """Lease the next batch without reading its recipients yet (see
    :func:`take_batch`): what a worker does while its current batch goes out."""
    with sessions.begin() as session:
        return _lease_next(session, worker_id, settings, edition_id, None, cursor)


def take_batch(
    sessions: sessionmaker[Session], worker_id: str, ids: Sequence[int], settings: Settings
) -> tuple[list[Claimed], int]:
    """The deliveries ``ids`` leased ahead, with their recipients as they are
    now. Their leases start afresh; any this worker no longer holds (they
    ran out and another worker claimed them) are left out."""
    with sessions.begin() as session:
        held = _renew(session, worker_id, ids, settings, store_now(session))
        return _recipients(session, worker_id, held) if held else ([], 0)


def keep_leases(
    sessions: sessionmaker[Session], worker_id: str, ids: Sequence[int], settings: Settings
) -> None:
    """Extend the leases this worker still holds on ``ids`` (a batch going
    out slowly, at a rate limit or through a stalling relay, stays its own)."""
    with sessions.begin() as session:
        _renew(session, worker_id, ids, settings, store_now(session))


def _renew(
    session: Session, worker_id: str, ids: Sequence[int], settings: Settings, now: dt.datetime
) -> list[int]:
    return list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
            .values(lease_expires_at=now + dt.timedelta(seconds=settings.lease_seconds))
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def _lease_next(
    session: Session,
    worker_id: str,
    settings: Settings,
    edition_id: int | None,
    now: dt.datetime | None,
    cursor: Cursor | None,
) -> list[int]:
    now = now or store_now(session)
    cursor = {} if cursor is None else cursor
    editions = select(Edition.id).where(Edition.status == EditionStatus.SENDING)
    if edition_id is not None:
        editions = editions.where(Edition.id == edition_id)
    for sending in session.scalars(editions.order_by(Edition.id)).all():
        # Retries that are due first, then the queue in id order from where
        # this worker left it; at its end, once more from the start, for
        # what was handed back or whose lease ran out behind the cursor.
        ids = _lease(session, sending, DeliveryStatus.DEFERRED, worker_id, settings, now)
        queued: list[int] = []
        for after in dict.fromkeys((cursor.get(sending, 0), 0)):
            left = settings.batch_size - len(ids) - len(queued)
            if left > 0:
                queued += _lease(
                    session, sending, DeliveryStatus.QUEUED, worker_id, settings, now, left, after
                )
        if queued:
            cursor[sending] = max(queued)
        if ids or queued:
            return ids + queued
    return []


def _lease(
    session: Session,
    edition_id: int,
    status: DeliveryStatus,
    worker_id: str,
    settings: Settings,
    now: dt.datetime,
    limit: int | None = None,
    after: int = 0,
) -> list[int]:
    """Lease up to ``limit`` free deliveries of one edition in one state,
    queued ones from id ``after`` on.

    The scan stops after the batch instead of reading (and sorting) the whole
    rest of the queue, and starts past what this worker already took instead
    of reading every delivery sent so far: a claim costs the same at the last
    batch of a million as at the first, whichever index the planner picks.
    """
    # Each order is its partial index's own (ix_delivery_queued,
    # ix_delivery_deferred): the most overdue retries, then the queue by id.
    order = Delivery.next_attempt_at if status == DeliveryStatus.DEFERRED else Delivery.id
    due = (
        select(Delivery.id)
        .where(
            Delivery.edition_id == edition_id,
            Delivery.status == status,
            or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
        )
        .order_by(order)
        .limit(limit or settings.batch_size)
    )
    if status == DeliveryStatus.DEFERRED:
        due = due.where(Delivery.next_attempt_at <= now)
    elif after:
        due = due.where(Delivery.id > after)
    if session.get_bind().dialect.name == "postgresql":
        # Other workers' batches are locked: take the next free rows.
        due = due.with_for_update(skip_locked=True)
    return list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()))
            .values(
                lease_owner=worker_id,
                lease_expires_at=now + dt.timedelta(seconds=settings.lease_seconds),
            )
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def _recipients(session: Session, worker_id: str, ids: Sequence[int]) -> tuple[list[Claimed], int]:
    """The leased deliveries with their recipients, as they are now: those
    whose subscriber left or was suppressed are marked suppressed; those of
    an edition paused or cancelled since the lease are handed back."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.edition_id,
            Edition.week,
            Edition.started_at,
            Delivery.segment_id,
            Delivery.attempts,
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            receiving(utcnow()),
            Edition.status == EditionStatus.SENDING,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
        .order_by(Delivery.id)
    ).all()
    claimed = [
        Claimed(row[0], row[1], row[2], row[3], row[4], row[5], Recipient(row[6], row[7], row[8]))
        for row in rows
        if row[9] and row[10]
    ]
    gone = [row[0] for row in rows if row[10] and not row[9]]
    held = [row[0] for row in rows if not row[10]]
    if gone:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(gone))
            .values(status=DeliveryStatus.SUPPRESSED, lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    if held:
        _unlease(session, worker_id, held)
    return claimed, len(gone)


def release_batch(sessions: sessionmaker[Session], worker_id: str, ids: Sequence[int]) -> None:
    """Hand claimed deliveries back unsent (no attempt counted)."""
    with sessions.begin() as session:
        _unlease(session, worker_id, ids)


def _unlease(session: Session, worker_id: str, ids: Sequence[int]) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == worker_id)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


def record_results(
    sessions: sessionmaker[Session],
    worker_id: str,
    batch: Sequence[Claimed],
    results: Sequence[SendResult],
    settings: Settings,
    report: SendReport,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Write a batch's outcomes: the accepted ones in one statement, the
    failures (rare) in one executemany; suppress the addresses the backend
    found dead; hand back the unsent ones with no attempt counted. ``report``
    counts them once they are written."""
    counted = SendReport()
    with sessions.begin() as session:
        _record(session, worker_id, batch, results, settings, counted, now or store_now(session))
    report.sent += counted.sent
    report.deferred += counted.deferred
    report.failed += counted.failed


def _record(
    session: Session,
    worker_id: str,
    batch: Sequence[Claimed],
    results: Sequence[SendResult],
    settings: Settings,
    report: SendReport,
    now: dt.datetime,
) -> None:
    accepted = [
        c.delivery_id for c, r in zip(batch, results, strict=True) if r.outcome == Outcome.ACCEPTED
    ]
    unsent = [
        c.delivery_id for c, r in zip(batch, results, strict=True) if r.outcome == Outcome.UNSENT
    ]
    failures: list[dict[str, object]] = []
    dead: list[dict[str, object]] = []
    for claimed, result in zip(batch, results, strict=True):
        if result.outcome in (Outcome.ACCEPTED, Outcome.UNSENT):
            continue
        attempts = claimed.attempts + 1
        too_old = now - (claimed.started_at or now) > dt.timedelta(hours=settings.max_age_hours)
        retry = (
            result.outcome == Outcome.TRANSIENT and attempts < settings.max_attempts and not too_old
        )
        failures.append(
            {
                "b_id": claimed.delivery_id,
                "b_status": DeliveryStatus.DEFERRED if retry else DeliveryStatus.FAILED,
                "b_attempts": attempts,
                "b_next": now + retry_delay(attempts, settings) if retry else None,
                "b_code": result.code,
                "b_error": result.text[:1000],
            }
        )
        if retry:
            report.deferred += 1
        else:
            report.failed += 1
        if result.outcome == Outcome.PERMANENT and result.suppress is not None:
            dead.append(
                {
                    "email": claimed.recipient.email,
                    "reason": result.suppress.value,
                    "detail": f"{result.code} {result.text}"[:1000],
                    "created_at": now,
                }
            )
    report.sent += len(accepted)
    if accepted:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(accepted), Delivery.lease_owner == worker_id)
            .values(
                status=DeliveryStatus.SENT,
                attempts=Delivery.attempts + 1,
                sent_at=now,
                lease_owner=None,
                lease_expires_at=None,
                last_code=None,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
    if failures:
        session.connection().execute(
            update(Delivery.__table__)
            .where(Delivery.id == bindparam("b_id"), Delivery.lease_owner == worker_id)
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                last_code=bindparam("b_code"),
                last_error=bindparam("b_error"),
                lease_owner=None,
                lease_expires_at=None,
            ),
            failures,
        )
    if unsent:
        _unlease(session, worker_id, unsent)
    if dead:
        _suppress(session, dead)


def retry_delay(attempts: int, settings: Settings) -> dt.timedelta:
    """Exponential backoff with jitter: between half and all of
    base × 2^(attempts−1), capped."""
    ceiling = min(settings.retry_cap_seconds, settings.retry_base_seconds * 2 ** (attempts - 1))
    return dt.timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def finish_if_done(sessions: sessionmaker[Session], edition_id: int) -> bool:
    """Mark a sending edition sent once no delivery is pending; True if sent."""
    with sessions.begin() as session:
        # One probe per state, each answered by its partial index; an IN
        # over both states would read the whole edition.
        for status in PENDING:
            pending = exists().where(Delivery.edition_id == edition_id, Delivery.status == status)
            if session.scalar(select(pending)):
                return False
        done = session.execute(
            update(Edition)
            .where(Edition.id == edition_id, Edition.status == EditionStatus.SENDING)
            .values(status=EditionStatus.SENT, sent_at=dt.datetime.now(dt.UTC))
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount)


class Worker:
    """Claims, sends and records batches until told to stop.

    ``until_idle`` makes it return as soon as nothing is claimable (what
    ``digest send`` wants); otherwise it polls (what ``digest worker`` does).

    While a batch goes out, a helper thread leases the next one, so the
    store's round trips overlap the network's. The next batch's recipients
    are read only when it is taken, after the current batch is recorded: an
    unsubscribe made meanwhile still counts. A leased batch that is never
    sent (the worker stops or dies first) costs no copy: it is handed back,
    or its lease runs out.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        backend: MailBackend,
        worker_id: str,
        *,
        edition_id: int | None = None,
        on_batch: Callable[[SendReport], None] | None = None,
        stop: threading.Event | None = None,
        poll_seconds: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.backend = backend
        self.worker_id = worker_id
        self.edition_id = edition_id
        self.on_batch = on_batch
        self.stop = stop or threading.Event()
        self.poll_seconds = poll_seconds
        self.report = SendReport()
        self._templates: dict[int, MessageTemplate] = {}
        self._backoff = 0.0
        self._until_idle = False
        self._leaser = ThreadPoolExecutor(1, thread_name_prefix="lease")
        self._ahead: Future[list[int]] | None = None
        self._cursor: Cursor = {}

    def run(self, *, until_idle: bool = False) -> SendReport:
        """Work until stopped; with ``until_idle``, until nothing is due now.

        A run until idle (``digest send``) reports an unreachable backend as
        a MailError instead of waiting for it; a long-running worker backs off.
        """
        self._until_idle = until_idle
        try:
            while not self.stop.is_set():
                if self.run_once():
                    continue
                if until_idle:
                    break
                self.stop.wait(self.poll_seconds)
        finally:
            self._hand_back_ahead()
            self._leaser.shutdown()
            self.backend.close()
        return self.report

    def run_once(self) -> bool:
        """Claim and send one batch; False when there was nothing to claim."""
        batch, gone = self._next_batch()
        self.report.suppressed += gone
        if not batch:
            self._finish_editions()
            return bool(gone)
        recorded = threading.Event()
        ids = [c.delivery_id for c in batch]
        self._ahead = self._leaser.submit(self._lease_ahead, ids, recorded)
        try:
            results = self._send(batch)
            if results is None:
                return True
            self._record(batch, results)
        finally:
            recorded.set()
        self.report.batches += 1
        self.report.editions.update(c.edition_id for c in batch)
        if self.on_batch is not None:
            self.on_batch(self.report)
        unsent = [r for r in results if r.outcome == Outcome.UNSENT]
        if unsent:
            self._cannot_send(MailError(f"the mail backend could not send: {unsent[0].text}"))
        elif self._backoff:
            log.warning("mail backend reachable again", extra={"worker": self.worker_id})
            self._backoff = 0.0
        return True

    def _record(self, batch: list[Claimed], results: list[SendResult]) -> None:
        """Record the batch, trying again while the store is away: the
        results exist only here, and a batch not recorded is sent again
        once its lease runs out. Its leases are kept alive meanwhile."""
        delay = 1.0
        for attempt in itertools.count(1):
            try:
                record_results(
                    self.sessions, self.worker_id, batch, results, self.settings, self.report
                )
                return
            except SQLAlchemyError as error:
                # A worker told to stop gives up after about half a minute.
                if self.stop.is_set() and attempt >= 5:
                    raise
                log.warning(
                    "could not record a sent batch",
                    extra={
                        "worker": self.worker_id,
                        "attempt": attempt,
                        "error": driver_words(error),
                    },
                )
                time.sleep(delay)
                delay = min(30.0, delay * 2)

    def _send(self, batch: list[Claimed]) -> list[SendResult] | None:
        """The batch's results, in order; None when the backend could not
        take it at all (the batch is then handed back)."""
        now = dt.datetime.now(dt.UTC)
        templates = self._templates_for(batch)
        failed: dict[int, SendResult] = {}

        def composed() -> Iterator[OutgoingMessage]:
            # Composed as the backend takes them: sending overlaps composing.
            for index, claimed in enumerate(batch):
                # Whatever one recipient's data does to the composer, it must
                # not stall the batch (or the edition) for the others.
                try:
                    message = templates[claimed.segment_id].compose(claimed.recipient, now)
                except Exception as error:
                    log.error(
                        "delivery cannot be composed",
                        extra={"delivery_id": claimed.delivery_id, "error": str(error)},
                    )
                    failed[index] = SendResult(Outcome.PERMANENT, None, f"cannot compose: {error}")
                    continue
                yield message

        try:
            self.backend.open()
            sent = iter(self.backend.send_batch(self.backend.paced(composed())))
        except MailError as error:
            # Unreachable, or a refused API token: nothing went out.
            release_batch(self.sessions, self.worker_id, [c.delivery_id for c in batch])
            self._cannot_send(error)
            return None
        results = [failed[n] if n in failed else next(sent, None) for n in range(len(batch))]
        if None in results or next(sent, None) is not None:
            raise MailError(f"{type(self.backend).__name__} did not answer once per message")
        return [r for r in results if r is not None]

    def _cannot_send(self, error: MailError) -> None:
        """Report a backend that cannot send: raise in a run until idle,
        otherwise back off (1, 2, 4 … 60 s) and say so once."""
        if self._until_idle:
            raise error
        if not self._backoff:
            log.error(
                "mail backend cannot send, backing off",
                extra={"worker": self.worker_id, "error": str(error)},
            )
        self._backoff = min(60.0, max(1.0, self._backoff * 2))
        self.stop.wait(self._backoff)

    def _lease_ahead(self, current: list[int], recorded: threading.Event) -> list[int]:
        """Beside a batch going out: lease the next one (unless stopping),
        then keep both leases alive until the batch is recorded."""
        ahead: list[int] = []
        if not self.stop.is_set():
            try:
                ahead = lease_batch(
                    self.sessions,
                    self.worker_id,
                    self.settings,
                    edition_id=self.edition_id,
                    cursor=self._cursor,
                )
            except SQLAlchemyError as error:
                log.warning(
                    "could not lease the next batch ahead",
                    extra={"worker": self.worker_id, "error": driver_words(error)},
                )
        while not recorded.wait(self.settings.lease_seconds / 3):
            try:
                keep_leases(self.sessions, self.worker_id, [*current, *ahead], self.settings)
            except SQLAlchemyError as error:
                log.warning(
                    "could not extend the leases of the batch in hand",
                    extra={"worker": self.worker_id, "error": driver_words(error)},
                )
        return ahead

    def _next_batch(self) -> tuple[list[Claimed], int]:
        ahead, self._ahead = self._ahead, None
        ids = ahead.result() if ahead is not None else []
        if ids:
            taken = take_batch(self.sessions, self.worker_id, ids, self.settings)
            if taken != ([], 0):
                return taken
        # Nothing (left) of a batch leased ahead: a retry may have come due
        # since, or another edition may be sending, so look now.
        return claim_batch(
            self.sessions,
            self.worker_id,
            self.settings,
            edition_id=self.edition_id,
            cursor=self._cursor,
        )

    def _hand_back_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and (ids := ahead.result()):
            release_batch(self.sessions, self.worker_id, ids)

    def _templates_for(self, batch: list[Claimed]) -> dict[int, MessageTemplate]:
        """A template per segment of the batch, each built once per worker:
        the hot path is byte joins (see worker.compose)."""
        missing = {c.segment_id: c for c in batch if c.segment_id not in self._templates}
        if missing:
            with self.sessions() as session:
                segments = session.scalars(
                    select(EditionSegment).where(EditionSegment.id.in_(missing))
                ).all()
            for segment in segments:
                claimed = missing[segment.id]
                self._templates[segment.id] = MessageTemplate(
                    SegmentParts(segment.subject, segment.html, segment.text),
                    EditionRef(edition_id=claimed.edition_id, week=claimed.week),
                    self.settings,
                    with_fields=self.backend.wants_fields,
                )
        return self._templates

    def _finish_editions(self) -> None:
        with self.sessions() as session:
            query = select(Edition.id).where(Edition.status == EditionStatus.SENDING)
            if self.edition_id is not None:
                query = query.where(Edition.id == self.edition_id)
            sending = list(session.scalars(query))
        for edition_id in sending:
            if finish_if_done(self.sessions, edition_id):
                log.info("edition sent", extra={"edition_id": edition_id})


def send_edition(
    sessions: sessionmaker[Session],
    week: Week,
    settings: Settings,
    backend: MailBackend,
    *,
    worker_id: str | None = None,
    on_batch: Callable[[SendReport], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[SendReport, str]:
    """Start the week's built edition if needed and send what is due now.

    Returns this run's report and the edition's status afterwards. Raises
    LookupError when the week has no edition (build it first). Setting
    ``stop`` ends the send after the batch in hand, recorded.
    """
    counts = start_edition(sessions, week, settings)
    report = SendReport()
    if counts.status == EditionStatus.SENDING:
        worker = Worker(
            sessions,
            settings,
            backend,
            worker_id or f"send:{socket.gethostname()}:{os.getpid()}",
            edition_id=counts.edition_id,
            on_batch=on_batch,
            stop=stop,
        )
        report = worker.run(until_idle=True)
    return report, edition_counts(sessions, counts.edition_id).status


def _suppress(session: Session, rows: list[dict[str, object]]) -> None:
    """Add addresses to the suppression list; ones already there stay as they are."""
    session.execute(
        upsert(session, Suppression).values(rows).on_conflict_do_nothing(index_elements=["email"])
    )
