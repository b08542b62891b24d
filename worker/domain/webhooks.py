"""Signed webhooks out, as values and rules: the event types, the body of an
event, the Standard Webhooks signature (https://www.standardwebhooks.com/),
the endpoints and secret as the settings give them, and the retry schedule.

A webhook is a POST whose body is one event::

    {"type": "subscriber.confirmed", "timestamp": "2026-12-06T10:50:00Z",
     "data": {"subscriber_id": 42, "email": "ada@example.org", ...}}

with three headers: ``webhook-id`` (the event's ``msg_…`` id, the same on
every attempt: a receiver dedupes by it), ``webhook-timestamp`` (the attempt's
Unix time in seconds) and ``webhook-signature`` (``v1,`` and the base64
HMAC-SHA256 of ``id.timestamp.body`` under the secret's key).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import random
import secrets
from collections.abc import Mapping
from ipaddress import ip_address
from urllib.parse import urlsplit

from worker.domain.keyed import hmac_of

SECRET_PREFIX = "whsec_"
# The spec's bounds for a key: shorter is guessable, longer gains nothing.
SHORTEST_KEY = 24
LONGEST_KEY = 64
URL_LIMIT = 2048  # webhook_endpoint.url

#: A first retry waits about FIRST_RETRY; each next one twice as long, up to
#: LONGEST_WAIT; after GIVE_UP_AFTER since the first attempt, none.
FIRST_RETRY = dt.timedelta(seconds=10)
LONGEST_WAIT = dt.timedelta(hours=1)
GIVE_UP_AFTER = dt.timedelta(hours=24)


class EventType(enum.StrEnum):
    """What happened; a webhook's ``type``."""

    SUBSCRIBER_CREATED = "subscriber.created"
    SUBSCRIBER_CONFIRMED = "subscriber.confirmed"
    SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed"
    SUBSCRIBER_SUPPRESSED = "subscriber.suppressed"
    VOTE_CAST = "vote.cast"
    EDITION_SENT = "edition.sent"
    WEBHOOK_TEST = "webhook.test"  # sent by digest webhooks test, never stored


class WebhookStatus(enum.StrEnum):
    """Where one event's delivery to one endpoint is."""

    PENDING = "pending"  # to be sent (now, or at its next attempt)
    DELIVERED = "delivered"  # a 2xx answer came
    FAILED = "failed"  # given up: 24 hours of retries, a 410, or the endpoint removed


def new_message_id() -> str:
    """A fresh ``webhook-id``: ``msg_`` and 128 random bits."""
    return "msg_" + secrets.token_urlsafe(16)


def event_body(event_type: str, at: dt.datetime, data: Mapping[str, object]) -> str:
    """The body of an event, as sent (and signed) on every attempt."""
    envelope = {"type": event_type, "timestamp": utc_text(at), "data": dict(data)}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def utc_text(at: dt.datetime) -> str:
    """``at`` in UTC, ISO 8601 to the second with a ``Z``, as bodies give times."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256
    of ``id.timestamp.body`` under ``key``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac_of(key, "sha256", signed).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(key: bytes, message_id: str, at: dt.datetime, body: bytes) -> dict[str, str]:
    """The headers of one attempt to send ``body``, made at ``at``."""
    timestamp = int(at.timestamp())
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


def secret_key(text: str) -> bytes:
    """The HMAC key of a ``WEBHOOK_SECRET`` (``whsec_`` and the base64 of
    24 to 64 bytes). ValueError says what is wrong without quoting it."""
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(f"does not start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"is not {SECRET_PREFIX} followed by base64") from None
    if not SHORTEST_KEY <= len(key) <= LONGEST_KEY:
        raise ValueError(
            f"holds a key of {len(key)} bytes; {SHORTEST_KEY} to {LONGEST_KEY} are needed"
        )
    return key


def new_secret() -> str:
    """A fresh ``WEBHOOK_SECRET``: 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def endpoint_problem(url: str) -> str:
    """What is wrong with ``url`` as a webhook endpoint ("" if nothing): it
    must be https, or http to this machine only (a receiver on loopback,
    where nothing is on the wire); no fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is no number (or past 65535) raises
    except ValueError:
        return "is not a URL"
    if port == 0:
        return "has port 0"
    if len(url) > URL_LIMIT:
        return f"is longer than {URL_LIMIT} characters"
    if not parts.hostname:
        return "has no host"
    if parts.fragment:
        return "has a fragment (#…), which is never sent"
    if parts.scheme == "https":
        return ""
    if parts.scheme == "http":
        if is_loopback(parts.hostname):
            return ""
        return "is http to another machine: the events carry addresses, so https is needed"
    return "is not an https URL"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (as a URL writes it) is this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait after ``attempts`` failed attempts: exponential
    backoff with jitter, between half and all of FIRST_RETRY × 2^(attempts−1),
    at most LONGEST_WAIT."""
    ceiling = min(LONGEST_WAIT, FIRST_RETRY * 2 ** min(attempts - 1, 20))
    return ceiling * random.uniform(0.5, 1.0)


def given_up(first_attempt_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a delivery first tried at ``first_attempt_at`` is past its retries."""
    return now - first_attempt_at >= GIVE_UP_AFTER
