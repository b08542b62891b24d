"""Postmark webhooks (one record per request) as intake records.

- ``Bounce``: by its ``Type``, HardBounce and BadEmailAddress are hard,
  SoftBounce, Transient and DnsError soft, SpamComplaint a complaint,
  Unsubscribe an unsubscribe, anything else (AutoResponder, Blocked, …)
  other.
- ``SpamComplaint``: a complaint.

  Both keyed ``message:<MessageID>:<kind>:<Email>``: by the message they
  are about (one edition to one address), so a second record about it (a
  soft bounce Postmark reports again) is a duplicate.
- ``SubscriptionChange``: when it suppresses sending, by its reason,
  HardBounce is hard, SpamComplaint a complaint, ManualSuppression (the
  recipient's unsubscribe in Postmark) an unsubscribe; a reactivation is
  other: it resubscribes no one here. Keyed
  ``subscription:<MessageID>:<Recipient>:<ChangedAt>``.
- ``Delivery``: delivered, keyed ``delivery:<MessageID>:<Recipient>``.

Other record types (Open, Click) give no record.
"""

from __future__ import annotations

from typing import Any

from subscribers.intake.records import IntakeRecord, PayloadError, address, event_key
from worker.domain.suppression import IntakeKind

SOURCE = "postmark"
BOUNCE_KINDS = {
    "HardBounce": IntakeKind.HARD_BOUNCE,
    "BadEmailAddress": IntakeKind.HARD_BOUNCE,
    "SoftBounce": IntakeKind.SOFT_BOUNCE,
    "Transient": IntakeKind.SOFT_BOUNCE,
    "DnsError": IntakeKind.SOFT_BOUNCE,
    "SpamComplaint": IntakeKind.COMPLAINT,
    "Unsubscribe": IntakeKind.UNSUBSCRIBE,
}
SUPPRESSION_KINDS = {
    "HardBounce": IntakeKind.HARD_BOUNCE,
    "SpamComplaint": IntakeKind.COMPLAINT,
    "ManualSuppression": IntakeKind.UNSUBSCRIBE,
}


def records(payload: dict[str, Any], raw: str) -> list[IntakeRecord]:
    """The records of one Postmark webhook request; ``raw`` is its body."""
    record_type = payload.get("RecordType")
    if record_type in ("Bounce", "SpamComplaint"):
        bounce_type = str(payload.get("Type", ""))
        if record_type == "SpamComplaint":
            kind = IntakeKind.COMPLAINT
        else:
            kind = BOUNCE_KINDS.get(bounce_type, IntakeKind.OTHER)
        detail = " ".join(
            str(p)
            for p in (f"{bounce_type}:", payload.get("Description"), payload.get("Details"))
            if p
        )
        recipient = address(_field(payload, "Email"))
        key = ("message", _field(payload, "MessageID"), kind.value, recipient)
        return [_record(kind, key, payload, "Email", detail, raw)]
    if record_type == "SubscriptionChange":
        reason = str(payload.get("SuppressionReason", ""))
        if payload.get("SuppressSending") is True:
            kind = SUPPRESSION_KINDS.get(reason, IntakeKind.OTHER)
            detail = f"suppressed in Postmark: {reason} (origin {payload.get('Origin', '?')})"
        else:
            kind = IntakeKind.OTHER
            detail = "reactivated in Postmark (not resubscribed here)"
        parts = ("subscription", _field(payload, "MessageID"), _field(payload, "Recipient"))
        key = (*parts, str(payload.get("ChangedAt", "")))
        return [_record(kind, key, payload, "Recipient", detail, raw)]
    if record_type == "Delivery":
        key = ("delivery", _field(payload, "MessageID"), _field(payload, "Recipient"))
        detail = str(payload.get("Details") or "") or None
        return [_record(IntakeKind.DELIVERED, key, payload, "Recipient", detail, raw)]
    return []


def _record(
    kind: IntakeKind,
    key: tuple[str, ...],
    payload: dict[str, Any],
    email_field: str,
    detail: str | None,
    raw: str,
) -> IntakeRecord:
    return IntakeRecord(
        source=SOURCE,
        event_key=event_key(":".join(key)),
        kind=kind,
        email=address(_field(payload, email_field)),
        detail=detail,
        raw=raw,
    )


def _field(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise PayloadError(f"the {payload.get('RecordType')} record has no {name}")
    return str(value)
