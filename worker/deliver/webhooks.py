"""Webhooks out: the outbox's events (:mod:`worker.store.outbox`) sent to
each endpoint of ``WEBHOOK_URLS``, signed, in order per subscriber, at least
once.

One pass (:func:`deliver_webhooks`) does, each step in a short transaction:

1. **endpoints**: a URL of ``WEBHOOK_URLS`` not seen before gets a row (it
   receives the events fanned out from then on); an endpoint no longer
   listed has what was pending for it failed;
2. **fan out**: each event not fanned out yet gets a pending delivery per
   enabled endpoint;
3. **claim**, per enabled endpoint: pending deliveries that are due, not
   leased (or whose lease ran out), and not behind an earlier pending event
   of the same subscriber to that endpoint: an event for subscriber S
   waits while an earlier one for S does. Leased to this worker with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share
   the work;
4. **send** (:mod:`worker.deliver.webhook_post`), a few at once: one batch
   holds at most one event per subscriber, so the order per subscriber holds;
5. **record**: a 2xx answer is delivered; 410 Gone disables the endpoint
   (logged) and fails what was pending for it; anything else (another
   status, a timeout, a refused connection) is tried again after an
   exponential backoff with jitter (:func:`worker.domain.webhooks.retry_delay`),
   for 24 hours from the first attempt, then given up (logged).

A worker that dies mid-batch leaves its leases to run out: the batch is sent
again, with the same ``webhook-id`` (at least once; a receiver dedupes).
Times are the store's clock (``store_now``) unless a caller gives ``now``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import bindparam, delete, exists, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased, sessionmaker

from worker.config import Settings, redact_url
from worker.deliver.webhook_post import PostResult, post
from worker.domain.webhooks import WebhookStatus, given_up, retry_delay
from worker.errors import driver_words
from worker.store import store_now, upsert
from worker.store.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger("worker.webhooks")

BATCH = 20  # deliveries one claim takes
SENDERS = 4  # POSTs at once
FAN_OUT_BATCH = 500
LEASE = dt.timedelta(minutes=5)
#: Events stay this long after they are created, once settled (delivered
#: or given up everywhere): what ``digest webhooks retry --failed`` can
#: still send; the clock's daily prune deletes them after it.
KEEP = dt.timedelta(days=7)
#: How often a worker process looks for webhooks to send, and how long a
#: stopping one waits for the batch in hand.
POLL_SECONDS = 2.0
STOP_SECONDS = 5.0
ERROR_CHARS = 1000

Pending = WebhookDelivery.status == WebhookStatus.PENDING


@dataclass
class WebhookReport:
    """What sending webhooks did: attempts by how they ended, events fanned
    out, endpoints disabled (their URLs, shown)."""

    delivered: int = 0
    retrying: int = 0
    given_up: int = 0
    fanned_out: int = 0
    disabled: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.given_up

    def add(self, other: WebhookReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.given_up += other.given_up
        self.fanned_out += other.fanned_out
        self.disabled += other.disabled


@dataclass(frozen=True)
class Endpoint:
    id: int
    url: str


@dataclass(frozen=True)
class Attempt:
    """A claimed delivery, with what sending it takes."""

    delivery_id: int
    message_id: str
    event_type: str
    body: str
    attempts: int  # made before this one
    first_attempt_at: dt.datetime | None


@dataclass(frozen=True)
class _Decision:
    attempt: Attempt
    result: PostResult
    status: WebhookStatus
    next_attempt_at: dt.datetime


def deliver_webhooks(
    sessions: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    *,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> WebhookReport:
    """One pass: send every webhook that is due (until ``stop`` is set),
    and return what it did. Nothing at all while ``WEBHOOK_URLS`` is empty."""
    report = WebhookReport()
    if not settings.webhook_urls:
        return report
    with sessions.begin() as session:
        endpoints = sync_endpoints(session, settings.webhook_urls, now or store_now(session))
    # Fanned out even to no endpoint: one disabled misses what happens meanwhile.
    while fanned := _fan_out(sessions, endpoints, now):
        report.fanned_out += fanned
    with ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook") as senders:
        for endpoint in endpoints:
            while stop is None or not stop.is_set():
                with sessions.begin() as session:
                    batch = claim(session, endpoint.id, worker_id, now or store_now(session))
                if not batch:
                    break
                results = _send(senders, endpoint, batch, settings)
                done = _record(sessions, endpoint, worker_id, batch, results, now)
                report.add(done)
                if done.disabled:
                    break
    if report.attempts:
        log.info(
            "webhooks sent",
            extra={
                "delivered": report.delivered,
                "retrying": report.retrying,
                "given_up": report.given_up,
            },
        )
    return report


def sync_endpoints(session: Session, urls: Sequence[str], now: dt.datetime) -> list[Endpoint]:
    """Rows for the URLs of ``WEBHOOK_URLS`` (a new one starts receiving
    now), pending deliveries to those no longer listed failed; the enabled
    endpoints, in the setting's order. Writes nothing when nothing changed."""
    known = {
        url: (endpoint_id, disabled)
        for endpoint_id, url, disabled in session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.disabled_at)
        )
    }
    new = [url for url in urls if url not in known]
    if new:
        session.execute(
            upsert(session, WebhookEndpoint)
            .values([{"url": url, "created_at": now} for url in new])
            .on_conflict_do_nothing(index_elements=["url"])
        )
        return sync_endpoints(session, urls, now)
    removed = [endpoint_id for url, (endpoint_id, _) in known.items() if url not in urls]
    if removed and session.scalar(
        select(exists().where(WebhookDelivery.endpoint_id.in_(removed), Pending))
    ):
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id.in_(removed), Pending)
            .values(
                status=WebhookStatus.FAILED,
                last_error="the endpoint is no longer in WEBHOOK_URLS",
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    return [Endpoint(known[url][0], url) for url in urls if known[url][1] is None]


def _fan_out(
    sessions: sessionmaker[Session], endpoints: Sequence[Endpoint], now: dt.datetime | None
) -> int:
    """Give up to :data:`FAN_OUT_BATCH` events not fanned out yet a
    delivery to each of ``endpoints``; how many events."""
    with sessions.begin() as session:
        query = (
            select(WebhookEvent.id, WebhookEvent.subscriber_id)
            .where(~WebhookEvent.fanned_out)
            .order_by(WebhookEvent.id)
            .limit(FAN_OUT_BATCH)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Another worker fanning out at once takes the next events.
            query = query.with_for_update(skip_locked=True)
        events = session.execute(query).all()
        if not events:
            return 0
        moment = now or store_now(session)
        deliveries = [
            {
                "event_id": event_id,
                "endpoint_id": endpoint.id,
                "subscriber_id": subscriber_id,
                "status": WebhookStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": moment,
            }
            for event_id, subscriber_id in events
            for endpoint in endpoints
        ]
        if deliveries:
            session.execute(
                upsert(session, WebhookDelivery).on_conflict_do_nothing(
                    index_elements=["event_id", "endpoint_id"]
                ),
                deliveries,
            )
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_([event_id for event_id, _ in events]))
            .values(fanned_out=True)
            .execution_options(synchronize_session=False)
        )
        return len(events)


def claim(
    session: Session, endpoint_id: int, worker_id: str, now: dt.datetime, limit: int = BATCH
) -> list[Attempt]:
    """Lease up to ``limit`` due deliveries to ``endpoint_id`` to
    ``worker_id``, the longest due first, none behind an earlier pending
    event of its subscriber; what sending them takes."""
    earlier = aliased(WebhookDelivery)
    due = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            Pending,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.lease_expires_at.is_(None), WebhookDelivery.lease_expires_at < now),
            ~exists().where(
                earlier.endpoint_id == WebhookDelivery.endpoint_id,
                earlier.subscriber_id == WebhookDelivery.subscriber_id,
                earlier.status == WebhookStatus.PENDING,
                earlier.event_id < WebhookDelivery.event_id,
            ),
        )
        # The due index's own order: the scan stops after the batch, however
        # long the history or the backlog.
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Other workers' batches are locked: take the next free rows.
        due = due.with_for_update(of=WebhookDelivery, skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        return []  # nothing written: an idle pass takes no lock
    claimed = list(
        session.scalars(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_(ids),
                Pending,
                or_(
                    WebhookDelivery.lease_expires_at.is_(None),
                    WebhookDelivery.lease_expires_at < now,
                ),
            )
            .values(lease_owner=worker_id, lease_expires_at=now + LEASE)
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookEvent.message_id,
            WebhookEvent.type,
            WebhookEvent.body,
            WebhookDelivery.attempts,
            WebhookDelivery.first_attempt_at,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(claimed))
        .order_by(WebhookDelivery.event_id)
    )
    return [Attempt(*row) for row in rows]


def _send(
    senders: ThreadPoolExecutor, endpoint: Endpoint, batch: Sequence[Attempt], settings: Settings
) -> list[PostResult]:
    """The batch POSTed, a few at once (one event per subscriber in a
    batch: their order is safe); the results in the batch's order."""
    futures = [senders.submit(post, endpoint.url, a.message_id, a.body, settings) for a in batch]
    return [future.result() for future in futures]


def _record(
    sessions: sessionmaker[Session],
    endpoint: Endpoint,
    worker_id: str,
    batch: Sequence[Attempt],
    results: Sequence[PostResult],
    now: dt.datetime | None,
) -> WebhookReport:
    """Write what each attempt of a batch came to, in one transaction;
    disable the endpoint if it answered 410."""
    report = WebhookReport()
    shown = redact_url(endpoint.url)
    with sessions.begin() as session:
        moment = now or store_now(session)
        decisions = [_decide(a, r, moment) for a, r in zip(batch, results, strict=True)]
        session.connection().execute(
            update(WebhookDelivery.__table__)
            .where(
                WebhookDelivery.id == bindparam("b_id"),
                WebhookDelivery.lease_owner == worker_id,
                Pending,  # not failed meanwhile (the endpoint disabled, removed)
            )
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                first_attempt_at=bindparam("b_first"),
                last_status=bindparam("b_code"),
                last_error=bindparam("b_error"),
                delivered_at=bindparam("b_delivered"),
                lease_owner=None,
                lease_expires_at=None,
            ),
            [_row(d, moment) for d in decisions],
        )
        gone = next((d for d in decisions if d.result.gone), None)
        if gone is not None:
            _disable(session, endpoint.id, gone, moment)
            report.disabled.append(shown)
    for decision in decisions:
        if decision.status == WebhookStatus.DELIVERED:
            report.delivered += 1
        elif decision.status == WebhookStatus.PENDING:
            report.retrying += 1
        elif not decision.result.gone:
            report.given_up += 1
            log.error(
                "webhook given up",
                extra={
                    "endpoint": shown,
                    "webhook_id": decision.attempt.message_id,
                    "type": decision.attempt.event_type,
                    "attempt": decision.attempt.attempts + 1,
                    "error": decision.result.error,
                },
            )
    failing = [d.result.error for d in decisions if d.status == WebhookStatus.PENDING]
    if failing:
        log.warning(
            "webhook endpoint failing",
            extra={"endpoint": shown, "failed": len(failing), "error": failing[0]},
        )
    if gone is not None:
        log.warning(
            "webhook endpoint disabled",
            extra={"endpoint": shown, "webhook_id": gone.attempt.message_id, "reason": "410 Gone"},
        )
    return report


def _decide(attempt: Attempt, result: PostResult, now: dt.datetime) -> _Decision:
    first = attempt.first_attempt_at or now
    if result.delivered:
        return _Decision(attempt, result, WebhookStatus.DELIVERED, now)
    if result.gone or given_up(first, now):
        return _Decision(attempt, result, WebhookStatus.FAILED, now)
    return _Decision(
        attempt, result, WebhookStatus.PENDING, now + retry_delay(attempt.attempts + 1)
    )


def _row(decision: _Decision, now: dt.datetime) -> dict[str, object]:
    error = decision.result.error
    if error and decision.result.answer:
        error = f"{error}: {decision.result.answer}"
    return {
        "b_id": decision.attempt.delivery_id,
        "b_status": decision.status.value,
        "b_attempts": decision.attempt.attempts + 1,
        "b_next": decision.next_attempt_at,
        "b_first": decision.attempt.first_attempt_at or now,
        "b_code": decision.result.status,
        "b_error": error[:ERROR_CHARS] if error else None,
        "b_delivered": now if decision.status == WebhookStatus.DELIVERED else None,
    }


def _disable(session: Session, endpoint_id: int, gone: _Decision, now: dt.datetime) -> None:
    """Disable an endpoint that answered 410 Gone; what was pending for it fails."""
    reason = f"answered 410 Gone to {gone.attempt.message_id}"
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason=reason)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, Pending)
        .values(
            status=WebhookStatus.FAILED,
            last_error=f"the endpoint was disabled: it {reason}",
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )


def prune_webhooks(sessions: sessionmaker[Session], now: dt.datetime) -> int:
    """Delete the events older than :data:`KEEP` that are settled (fanned
    out, nothing pending), with their deliveries; how many events."""
    pending = exists().where(WebhookDelivery.event_id == WebhookEvent.id, Pending)
    with sessions.begin() as session:
        result = session.execute(
            delete(WebhookEvent)
            .where(
                WebhookEvent.created_at < now - KEEP,
                WebhookEvent.fanned_out,
                ~pending,
            )
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount)


def requeue(
    sessions: sessionmaker[Session],
    *,
    endpoint_url: str | None = None,
    failed: bool = False,
    now: dt.datetime | None = None,
) -> tuple[int, list[str]]:
    """``digest webhooks retry``: enable the disabled endpoints (or only
    ``endpoint_url``), make their pending deliveries due now and, with
    ``failed``, send the failed ones again (with 24 hours of retries anew).
    Returns how many deliveries are due now and the URLs enabled again."""
    with sessions.begin() as session:
        moment = now or store_now(session)
        endpoints = select(WebhookEndpoint.id)
        if endpoint_url is not None:
            endpoints = endpoints.where(WebhookEndpoint.url == endpoint_url)
        enabled = list(
            session.scalars(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id.in_(endpoints), WebhookEndpoint.disabled_at.is_not(None))
                .values(disabled_at=None, disabled_reason=None)
                .returning(WebhookEndpoint.url)
                .execution_options(synchronize_session=False)
            )
        )
        states = [WebhookStatus.PENDING, *([WebhookStatus.FAILED] if failed else [])]
        due = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id.in_(endpoints), WebhookDelivery.status.in_(states))
            .values(
                status=WebhookStatus.PENDING,
                next_attempt_at=moment,
                # A failed one gets a full day of retries again.
                first_attempt_at=None if failed else WebhookDelivery.first_attempt_at,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        return int(due.rowcount), [redact_url(url) for url in enabled]


class WebhookSender:
    """Sends webhooks beside a ``digest worker``'s mail, as a context
    manager: a thread that makes a pass (:func:`deliver_webhooks`) every
    :data:`POLL_SECONDS` until the block ends, backing off while the store
    is away. A slow receiver never holds up a batch of mail, nor the other
    way round. Nothing starts while ``WEBHOOK_URLS`` is empty."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        worker_id: str,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.worker_id = worker_id
        self.poll_seconds = poll_seconds
        self.report = WebhookReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def __enter__(self) -> WebhookSender:
        if self.settings.webhook_urls:
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            # A batch still going out is left to its leases: it is sent
            # again later, with the same webhook-ids.
            self._thread.join(STOP_SECONDS)

    def _run(self) -> None:
        wait = self.poll_seconds
        while not self._stop.is_set():
            try:
                done = deliver_webhooks(
                    self.sessions, self.settings, self.worker_id, stop=self._stop
                )
                self.report.add(done)
                wait = self.poll_seconds
            except SQLAlchemyError as error:
                log.warning(
                    "webhooks not sent: the store failed",
                    extra={"worker": self.worker_id, "error": driver_words(error)},
                )
                wait = min(60.0, wait * 2)
            self._stop.wait(wait)
