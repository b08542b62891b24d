"""The webhook outbox's writer: events recorded in the caller's transaction.

Whoever makes a change that a webhook reports (the subscriber list's
consent, admin, import and votes; the intake of bounces; an edition found
sent) records its event here, in the same transaction as the change: the
event exists exactly when the change does, and a change rolled back leaves
none. ``worker.deliver.webhooks`` sends them.

Events are recorded only on an engine that asks for them
(:func:`with_events`): the edges (the CLI, the web app) make theirs so when
``WEBHOOK_URLS`` lists an endpoint. With none, nothing is written, and a
one-click unsubscribe stays one autocommitted statement.

A body carries ids, the address, statuses and times; never a token, a key
or anything derived from one (docs/operations.md, "Webhooks").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from worker.domain.segments import segment_categories
from worker.domain.states import SubscriberStatus
from worker.domain.webhooks import EventType, event_body, new_message_id, utc_text
from worker.now import process_now
from worker.store.models import Delivery, Edition, Subscriber, WebhookEvent

Store = Session | Connection

#: The engine execution option that turns recording on.
OPTION = "webhook_events"


def with_events(engine: Engine, on: bool) -> Engine:
    """``engine``, recording events when ``on`` (a view of it sharing its
    pool; ``engine`` itself is left as it was)."""
    return engine.execution_options(**{OPTION: True}) if on else engine


def recording(store: Store) -> bool:
    """Whether changes made through ``store`` record their events."""
    bind = store.get_bind() if isinstance(store, Session) else store
    return bool(bind.get_execution_options().get(OPTION))


def check_transaction(store: Store) -> None:
    """Raise RuntimeError if ``store`` records events but autocommits each
    statement: a change would be committed apart from its event. A caller
    whose change is a statement of its own checks before making it."""
    if (
        isinstance(store, Connection)
        and recording(store)
        and store.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    ):
        raise RuntimeError("an event needs the transaction of its change, not autocommit")


def record_event(
    store: Store,
    event_type: EventType,
    data: Mapping[str, object],
    subscriber_id: int | None = None,
) -> str | None:
    """Record one event in ``store``'s transaction; its ``webhook-id``, or
    None when ``store`` records no events."""
    recorded = record_events(store, [(event_type, data, subscriber_id)])
    return recorded[0] if recorded else None


def record_events(
    store: Store, events: Sequence[tuple[EventType, Mapping[str, object], int | None]]
) -> list[str]:
    """Record ``events`` (type, data, subscriber id) in order, in one
    statement; their ``webhook-id``s (none when ``store`` records no events)."""
    if not events or not recording(store):
        return []
    check_transaction(store)
    at = process_now()
    rows = [
        {
            "message_id": new_message_id(),
            "type": event_type.value,
            "subscriber_id": subscriber_id,
            "body": event_body(event_type.value, at, data),
            "created_at": at,
        }
        for event_type, data, subscriber_id in events
    ]
    store.execute(insert(WebhookEvent), rows)
    return [row["message_id"] for row in rows]


def record_subscriber_events(
    store: Store, events: Iterable[tuple[EventType, int]], **extra: object
) -> list[str]:
    """Record, for each (type, subscriber id), an event carrying the
    subscriber as stored now (see :func:`subscriber_data`) and ``extra``;
    two statements however many. A subscriber no longer stored is left out."""
    events = list(events)
    if not events or not recording(store):
        return []
    found = _subscribers(store, {subscriber_id for _, subscriber_id in events})
    return record_events(
        store,
        [
            (event_type, {**found[subscriber_id], **extra}, subscriber_id)
            for event_type, subscriber_id in events
            if subscriber_id in found
        ],
    )


def record_subscriber_event(
    store: Store, event_type: EventType, subscriber_id: int, **extra: object
) -> str | None:
    """:func:`record_subscriber_events` for one subscriber."""
    recorded = record_subscriber_events(store, [(event_type, subscriber_id)], **extra)
    return recorded[0] if recorded else None


def record_arrivals(store: Store, added: Iterable[tuple[int, str]]) -> list[str]:
    """Record the events of subscribers an operator added (subscriber id,
    status as stored): ``subscriber.created``, then ``subscriber.confirmed``
    for one stored confirmed, whose consent the operator vouched for."""
    events: list[tuple[EventType, int]] = []
    for subscriber_id, status in added:
        events.append((EventType.SUBSCRIBER_CREATED, subscriber_id))
        if status == SubscriberStatus.CONFIRMED:
            events.append((EventType.SUBSCRIBER_CONFIRMED, subscriber_id))
    return record_subscriber_events(store, events)


def record_suppressions(store: Store, suppressed: Iterable[tuple[str, str]]) -> list[str]:
    """Record a ``subscriber.suppressed`` event for each (address, reason)
    newly on the suppression list: the subscriber of that address if there
    is one, else the address alone."""
    suppressed = list(suppressed)
    if not suppressed or not recording(store):
        return []
    emails = [email for email, _ in suppressed]
    ids = dict(
        store.execute(
            select(Subscriber.email, Subscriber.id).where(Subscriber.email.in_(emails))
        ).all()
    )
    found = _subscribers(store, set(ids.values()))
    events: list[tuple[EventType, Mapping[str, object], int | None]] = []
    for email, reason in suppressed:
        subscriber_id = ids.get(email)
        data = found[subscriber_id] if subscriber_id is not None else {"subscriber_id": None}
        data = {**data, "email": email, "reason": reason}
        events.append((EventType.SUBSCRIBER_SUPPRESSED, data, subscriber_id))
    return record_events(store, events)


def record_vote_cast(
    store: Store, subscriber_id: int, tool_id: int, tool_slug: str, verdict: str, at: dt.datetime
) -> str | None:
    """Record a ``vote.cast`` event: who voted what on which tool, when."""
    if not recording(store):
        return None
    email = store.execute(select(Subscriber.email).where(Subscriber.id == subscriber_id)).scalar()
    data = {
        "subscriber_id": subscriber_id,
        "email": email,
        "tool_id": tool_id,
        "tool": tool_slug,
        "verdict": verdict,
        "cast_at": utc_text(at),
    }
    return record_event(store, EventType.VOTE_CAST, data, subscriber_id)


def record_edition_sent(store: Store, edition_id: int) -> str | None:
    """Record an ``edition.sent`` event: the edition, and its deliveries
    counted by state (one grouped query over them, once per edition)."""
    if not recording(store):
        return None
    edition = store.execute(
        select(
            Edition.id,
            Edition.list_id,
            Edition.week,
            Edition.subject,
            Edition.started_at,
            Edition.sent_at,
        ).where(Edition.id == edition_id)
    ).one()
    counts = dict(
        store.execute(
            select(Delivery.status, func.count())
            .where(Delivery.edition_id == edition_id)
            .group_by(Delivery.status)
        ).all()
    )
    data = {
        "edition_id": edition.id,
        "list_id": edition.list_id,
        "week": edition.week,
        "subject": edition.subject,
        "started_at": _time(edition.started_at),
        "sent_at": _time(edition.sent_at),
        "recipients": sum(counts.values()),
        "counts": dict(sorted(counts.items())),
    }
    return record_event(store, EventType.EDITION_SENT, data)


def forget_subscriber(store: Store, subscriber_id: int) -> int:
    """Delete the events about ``subscriber_id`` (their address is in
    them), sent or not; how many. For an erasure: what is left of them is
    their suppression, and its event."""
    result = store.execute(delete(WebhookEvent).where(WebhookEvent.subscriber_id == subscriber_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def subscriber_data(row: Any) -> dict[str, object]:
    """What an event says of a subscriber: id, address, state, categories
    (empty: every category) and the times of their consent. No name: the
    receiving site gets what it needs to match and honour a choice."""
    return {
        "subscriber_id": row.id,
        "email": row.email,
        "status": row.status,
        "categories": segment_categories(row.categories),
        "created_at": _time(row.created_at),
        "confirmed_at": _time(row.confirmed_at),
        "unsubscribed_at": _time(row.unsubscribed_at),
    }


def _subscribers(store: Store, ids: set[int]) -> dict[int, dict[str, object]]:
    if not ids:
        return {}
    rows = store.execute(
        select(
            Subscriber.id,
            Subscriber.email,
            Subscriber.status,
            Subscriber.categories,
            Subscriber.created_at,
            Subscriber.confirmed_at,
            Subscriber.unsubscribed_at,
        ).where(Subscriber.id.in_(ids))
    )
    return {row.id: subscriber_data(row) for row in rows}


def _time(at: dt.datetime | None) -> str | None:
    return utc_text(at) if at is not None else None
