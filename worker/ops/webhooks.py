"""What ``digest webhooks list`` shows: each endpoint, configured or known
to the store, with its deliveries counted by state, the oldest event still
pending for it, its last error, and when and why it was disabled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.domain.webhooks import WebhookStatus
from worker.store.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


@dataclass(frozen=True)
class EndpointState:
    """One endpoint's state; ``configured`` says whether ``WEBHOOK_URLS``
    lists it, ``seen`` whether a worker has (and so fans events out to it)."""

    url: str
    configured: bool
    seen: bool
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    pending: int
    failed: int
    delivered: int
    oldest_pending: dt.datetime | None  # the creation time of its oldest pending event
    last_error: str | None  # the last failed attempt's, of those still pending or failed


@dataclass(frozen=True)
class WebhookOverview:
    """Every endpoint, and the events no worker has fanned out yet."""

    endpoints: list[EndpointState]
    waiting: int


def webhook_overview(session: Session, configured: Sequence[str]) -> WebhookOverview:
    """The endpoints of ``configured`` (``WEBHOOK_URLS``) in its order, then
    those the store knows that it no longer lists."""
    rows = session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).scalars().all()
    known = {row.url: row for row in rows}
    counts: dict[tuple[int, str], int] = {
        (endpoint_id, status): count
        for endpoint_id, status, count in session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count()).group_by(
                WebhookDelivery.endpoint_id, WebhookDelivery.status
            )
        )
    }
    states = [_state(session, url, known.get(url), counts, configured=True) for url in configured]
    states += [
        _state(session, url, row, counts, configured=False)
        for url, row in known.items()
        if url not in configured
    ]
    waiting = session.scalar(
        select(func.count()).select_from(WebhookEvent).where(~WebhookEvent.fanned_out)
    )
    return WebhookOverview(states, int(waiting or 0))


def _state(
    session: Session,
    url: str,
    row: WebhookEndpoint | None,
    counts: dict[tuple[int, str], int],
    *,
    configured: bool,
) -> EndpointState:
    if row is None:
        return EndpointState(url, configured, False, None, None, 0, 0, 0, None, None)
    oldest = session.scalar(
        select(func.min(WebhookEvent.created_at))
        .join(WebhookDelivery, WebhookDelivery.event_id == WebhookEvent.id)
        .where(
            WebhookDelivery.endpoint_id == row.id,
            WebhookDelivery.status == WebhookStatus.PENDING,
        )
    )
    last_error = session.scalar(
        select(WebhookDelivery.last_error)
        .where(
            WebhookDelivery.endpoint_id == row.id,
            WebhookDelivery.status != WebhookStatus.DELIVERED,
            WebhookDelivery.last_error.is_not(None),
        )
        .order_by(WebhookDelivery.id.desc())
        .limit(1)
    )
    return EndpointState(
        url,
        configured,
        True,
        row.disabled_at,
        row.disabled_reason,
        counts.get((row.id, WebhookStatus.PENDING), 0),
        counts.get((row.id, WebhookStatus.FAILED), 0),
        counts.get((row.id, WebhookStatus.DELIVERED), 0),
        oldest,
        last_error,
    )
