"""The states a subscriber, an edition and a delivery go through, as the
store records them (short strings, checked by the schema)."""

from __future__ import annotations

import enum


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class EditionStatus(enum.StrEnum):
    READY = "ready"  # rendered, deliveries may be materialised
    SENDING = "sending"  # deliveries exist; workers claim them
    PAUSED = "paused"  # deliveries exist; workers leave them until resumed
    SENT = "sent"
    CANCELLED = "cancelled"  # stopped for good; unsent deliveries stay unsent
    SKIPPED = "skipped"  # nothing new that week: nothing to send


# Editions whose messages have gone out (to some at least): the archive shows
# them, and a new subscriber's welcome carries the newest.
WENT_OUT = (EditionStatus.SENDING, EditionStatus.PAUSED, EditionStatus.SENT)


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"  # transient failure, to be retried
    FAILED = "failed"  # permanent failure
    SUPPRESSED = "suppressed"  # not sent: the subscriber left or was suppressed meanwhile
