"""Why an address is suppressed, and what a bounce, complaint or webhook
event says, normalised over its source."""

from __future__ import annotations

import enum


class SuppressionReason(enum.StrEnum):
    UNKNOWN_USER = "unknown_user"  # a 5.1.x permanent failure
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCES = "soft_bounces"  # soft bounces past SOFT_BOUNCE_LIMIT
    COMPLAINT = "complaint"
    MANUAL = "manual"


class IntakeKind(enum.StrEnum):
    """What a bounce, complaint or webhook event says, normalised over its source."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    DELIVERED = "delivered"
    OTHER = "other"
