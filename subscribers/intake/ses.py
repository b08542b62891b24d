"""Amazon SES notifications (the ``Message`` of an SNS notification) as
intake records.

Both SES formats are read: feedback notifications (``notificationType``)
and event publishing (``eventType``). A ``Bounce`` of type ``Permanent`` is a
hard bounce, ``Transient`` and ``Undetermined`` are soft; a ``Complaint`` is
a complaint (unless its feedback type says ``not-spam``); a ``Delivery``
resets the soft-bounce count. Other events (sends, opens, clicks, delays)
give no record. An event is keyed by the SES message it is about
(``mail.messageId``: one edition to one address), its kind and the
recipient, so SNS resending a notification, or SES reporting one message
twice, changes nothing more.
"""

from __future__ import annotations

from typing import Any

from subscribers.intake.records import IntakeRecord, PayloadError, address, event_key
from subscribers.intake.strictjson import load_object
from worker.domain.suppression import IntakeKind

SOURCE = "ses"
BOUNCE_KINDS = {
    "Permanent": IntakeKind.HARD_BOUNCE,
    "Transient": IntakeKind.SOFT_BOUNCE,
    "Undetermined": IntakeKind.SOFT_BOUNCE,
}


def records(message: str, raw: str) -> list[IntakeRecord]:
    """The records of one SES notification (an SNS ``Message``); ``raw``
    (the SNS body) is kept with each."""
    data = load_object(message, "the SNS Message")
    event = data.get("notificationType") or data.get("eventType")
    found: list[tuple[IntakeKind, Any, str | None]] = []
    if event == "Bounce":
        bounce = _object(data, "bounce")
        bounce_type = str(bounce.get("bounceType", ""))
        kind = BOUNCE_KINDS.get(bounce_type, IntakeKind.SOFT_BOUNCE)
        for recipient in _list(bounce, "bouncedRecipients"):
            entry = recipient if isinstance(recipient, dict) else {}
            detail = " ".join(
                str(part)
                for part in (
                    f"{bounce_type}/{bounce.get('bounceSubType', '')}",
                    entry.get("status"),
                    entry.get("diagnosticCode"),
                )
                if part
            )
            found.append((kind, entry.get("emailAddress"), detail))
    elif event == "Complaint":
        complaint = _object(data, "complaint")
        feedback = str(complaint.get("complaintFeedbackType") or "abuse")
        kind = IntakeKind.OTHER if feedback.lower() == "not-spam" else IntakeKind.COMPLAINT
        for recipient in _list(complaint, "complainedRecipients"):
            entry = recipient if isinstance(recipient, dict) else {}
            found.append((kind, entry.get("emailAddress"), f"complaint: {feedback}"))
    elif event == "Delivery":
        delivery = _object(data, "delivery")
        for recipient in _list(delivery, "recipients"):
            found.append((IntakeKind.DELIVERED, recipient, delivery.get("smtpResponse")))
    if not found:
        return []
    mail_id = _object(data, "mail").get("messageId")
    if not isinstance(mail_id, str) or not mail_id.strip():
        raise PayloadError("the notification's 'mail' object has no messageId")
    return [_record(mail_id, kind, email, detail, raw) for kind, email, detail in found]


def _record(
    mail_id: str, kind: IntakeKind, email: Any, detail: str | None, raw: str
) -> IntakeRecord:
    if not isinstance(email, str) or not email.strip():
        raise PayloadError("a recipient without an address")
    normal = address(email)
    return IntakeRecord(
        source=SOURCE,
        event_key=event_key(mail_id, kind.value, normal),
        kind=kind,
        email=normal,
        detail=detail,
        raw=raw,
    )


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    found = data.get(name)
    if not isinstance(found, dict):
        raise PayloadError(f"the notification has no {name!r} object")
    return found


def _list(data: dict[str, Any], name: str) -> list[Any]:
    found = data.get(name)
    if not isinstance(found, list) or not found:
        raise PayloadError(f"the notification has no {name!r}")
    return found
