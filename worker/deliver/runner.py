"""The runner: the ``Worker`` that claims, sends and records batches until
told to stop (``digest worker``) or until nothing is due (``digest send``,
through :func:`send_edition`).

It owns the transactions: each step of the lease lifecycle
(:mod:`worker.deliver.claims`) runs in the transaction the worker opens for
it, and a sent batch is recorded by :mod:`worker.deliver.results`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from worker.compose import dkim
from worker.compose.ids import EditionRef
from worker.compose.message import SegmentParts
from worker.compose.signing import SigningPool
from worker.compose.template import MessageTemplate, Unsigned
from worker.config import Settings
from worker.deliver.claims import (
    Batch,
    Claimed,
    Cursor,
    claim,
    claimed_batch,
    next_due,
    release,
    renew,
)
from worker.deliver.editions import edition_counts, start_edition
from worker.deliver.results import SendReport, finish_if_done, record_results
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week
from worker.errors import MailError, driver_words
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult
from worker.now import process_now
from worker.store.models import (
    Edition,
    EditionSegment,
)

log = logging.getLogger("worker.deliver")

# How often an idle worker looks for work; sooner when a wave of dated
# deliveries is due before (Worker._idle_seconds). A stop signal ends the
# wait at once (worker.signals).
IDLE_POLL_SECONDS = 5.0


class Worker:
    """Claims, sends and records batches until told to stop.

    ``until_idle`` makes it return as soon as nothing is claimable (what
    ``digest send`` wants); otherwise it polls (what ``digest worker`` does).

    While a batch goes out, a helper thread claims the next one and renews
    the leases of both, so the store's round trips overlap the network's.
    The next batch's recipients are read only when it is taken, after the
    current batch is recorded: an unsubscribe made meanwhile still counts. A
    claimed batch that is never sent (the worker stops or dies first) costs
    no copy: it is released, or its lease runs out.
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
        poll_seconds: float = IDLE_POLL_SECONDS,
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
        self._signing: SigningPool | None = None

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
                self.stop.wait(self._idle_seconds())
        finally:
            self._release_ahead()
            self._leaser.shutdown()
            if self._signing is not None:
                self._signing.close()
            self.backend.close()
        return self.report

    def _idle_seconds(self) -> float:
        """How long an idle worker waits: its poll, or less when a wave of
        dated deliveries (each reader's morning) comes sooner, so that the
        wave starts on time."""
        try:
            with self.sessions() as session:
                coming = next_due(session, self.edition_id)
        except SQLAlchemyError:
            return self.poll_seconds  # the next claim says what is wrong
        if coming is None:
            return self.poll_seconds
        return max(0.0, min(self.poll_seconds, coming.total_seconds()))

    def run_once(self) -> bool:
        """Claim and send one batch; False when there was nothing to claim."""
        claimed = self._claim_next()
        self.report.suppressed += claimed.suppressed
        batch = claimed.deliveries
        if not batch:
            self._finish_editions()
            return bool(claimed.suppressed)
        recorded = threading.Event()
        ids = [c.delivery_id for c in batch]
        self._ahead = self._leaser.submit(self._claim_ahead, ids, recorded)
        try:
            results = self._send(batch)
            if results is None:
                return True
            self._record_until_stored(batch, results)
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

    def _record_until_stored(self, batch: list[Claimed], results: list[SendResult]) -> None:
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
        take it at all (the batch is then released)."""
        now = process_now()
        templates = self._templates_for(batch)
        failed: dict[int, SendResult] = {}

        def composed() -> Iterator[Unsigned]:
            # Composed as the backend takes them: sending overlaps composing.
            for index, claimed in enumerate(batch):
                # Whatever one recipient's data does to the composer, it must
                # not stall the batch (or the edition) for the others.
                try:
                    yield templates[claimed.segment_id].unsigned(claimed.recipient, now)
                except Exception as error:
                    log.error(
                        "delivery cannot be composed",
                        extra={"delivery_id": claimed.delivery_id, "error": str(error)},
                    )
                    failed[index] = SendResult(Outcome.PERMANENT, None, f"cannot compose: {error}")

        messages: Iterator[OutgoingMessage]
        if any(t.signs for t in templates.values()):
            # Signed by signing processes a little ahead of this thread (DKIM).
            messages = self._signing_pool().signed(composed())
        else:
            messages = (unsigned.message for unsigned in composed())
        try:
            self.backend.open()
            sent = iter(self.backend.send_batch(self.backend.paced(messages)))
        except MailError as error:
            # Unreachable, or a refused API token: nothing went out.
            with self.sessions.begin() as session:
                release(session, self.worker_id, [c.delivery_id for c in batch])
            self._cannot_send(error)
            return None
        results = [failed[n] if n in failed else next(sent, None) for n in range(len(batch))]
        if None in results or next(sent, None) is not None:
            raise MailError(f"{type(self.backend).__name__} did not answer once per message")
        return [r for r in results if r is not None]

    def _signing_pool(self) -> SigningPool:
        if self._signing is None:
            self._signing = SigningPool(dkim.signing_keys(self.settings))
        return self._signing

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

    def _claim_ahead(self, current: list[int], recorded: threading.Event) -> list[int]:
        """Beside a batch going out: claim the next one (unless stopping),
        then renew the leases of both until the batch is recorded."""
        ahead: list[int] = []
        if not self.stop.is_set():
            try:
                with self.sessions.begin() as session:
                    ahead = self._claim_in(session)
            except SQLAlchemyError as error:
                ahead = []  # the claim was rolled back
                log.warning(
                    "could not lease the next batch ahead",
                    extra={"worker": self.worker_id, "error": driver_words(error)},
                )
        while not recorded.wait(self.settings.lease_seconds / 3):
            try:
                with self.sessions.begin() as session:
                    renew(session, self.worker_id, [*current, *ahead], self.settings)
            except SQLAlchemyError as error:
                log.warning(
                    "could not extend the leases of the batch in hand",
                    extra={"worker": self.worker_id, "error": driver_words(error)},
                )
        return ahead

    def _claim_next(self) -> Batch:
        """The batch claimed ahead, its leases renewed, as it is now; when
        nothing of it is left to send, a batch claimed now."""
        ahead, self._ahead = self._ahead, None
        ids = ahead.result() if ahead is not None else []
        if ids:
            with self.sessions.begin() as session:
                held = claimed_batch(
                    session, self.worker_id, renew(session, self.worker_id, ids, self.settings)
                )
            if held.deliveries or held.suppressed:
                return held
        # Nothing (left) of a batch claimed ahead: a retry may have come due
        # since, or another edition may be sending, so look now.
        with self.sessions.begin() as session:
            return claimed_batch(session, self.worker_id, self._claim_in(session))

    def _claim_in(self, session: Session) -> list[int]:
        """Claim this worker's next batch (of its edition, if it has one)
        from its cursor on."""
        return claim(
            session, self.worker_id, self.settings, edition_id=self.edition_id, cursor=self._cursor
        )

    def _release_ahead(self) -> None:
        """Release the batch claimed ahead, unsent: the worker is done."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and (ids := ahead.result()):
            with self.sessions.begin() as session:
                release(session, self.worker_id, ids)

    def _templates_for(self, batch: list[Claimed]) -> dict[int, MessageTemplate]:
        """A template per segment of the batch, each built once per worker:
        the hot path is byte joins (see worker.compose.template)."""
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
    send_at: dt.datetime | None = None,
) -> tuple[SendReport, str]:
    """Start the week's built edition if needed and send what is due now.

    ``send_at``, the week's send time, dates each reader's delivery with
    DIGEST_SEND_LOCAL on (:func:`start_edition`); the readers whose morning
    has not come stay queued for the workers. Returns this run's report and
    the edition's status afterwards. Raises EditionStateError when the week
    has no edition (build it first). Setting ``stop`` ends the send after
    the batch in hand, recorded.
    """
    counts = start_edition(sessions, week, settings, send_at=send_at)
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
