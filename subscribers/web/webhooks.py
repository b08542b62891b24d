"""``POST /webhooks/<service>``: bounces, complaints and deliveries reported
by an email service, applied through the intake (:mod:`subscribers.intake`).

- ``ses``: Amazon SES through an SNS topic. Refused (503) while
  ``SNS_TOPIC_ARNS`` is not set; every message's topic and signature are
  verified (:mod:`subscribers.intake.sns`) before anything is read from it, so a
  subscription confirmation is only ever one of an accepted topic. It is
  logged with its SubscribeURL, and visited only when
  ``SNS_CONFIRM_SUBSCRIPTIONS`` is on.
- ``postmark``: Postmark's webhooks, with HTTP basic auth against
  ``POSTMARK_WEBHOOK_USER`` and ``POSTMARK_WEBHOOK_PASSWORD``; refused (503)
  while those are not set.

An applied request answers 200 with what it did; the same event sent again
answers 200 and changes nothing. A refused one answers 4xx (or 503, which
services retry) and changes nothing, with one warning in the log. A body
that is not JSON within the budgets of :mod:`subscribers.intake.strictjson`
(nesting, numbers, UTF-8) is a 400 like any other malformed payload.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from subscribers.intake import postmark, ses, sns
from subscribers.intake.records import IntakeRecord, PayloadError, apply
from subscribers.intake.strictjson import load_object
from subscribers.web.busy import StoreBusy
from subscribers.web.state import settings, write

log = logging.getLogger("subscribers.webhooks")
blueprint = Blueprint("webhooks", __name__)

# An SES notification quoting the bounced message's headers, or a Postmark
# bounce with its content, is larger than the forms the app otherwise takes.
MAX_BYTES = 1024 * 1024


@blueprint.post("/webhooks/<service>")
def receive(service: str) -> Response:
    """Dispatch to the service's handler; an unknown service is a 404."""
    handler = HANDLERS.get(service)
    if handler is None:
        abort(404)
    request.max_content_length = MAX_BYTES
    return handler()


def _ses() -> Response:
    try:
        body = request.get_data()
        message = load_object(body, "the body")
    except PayloadError as error:
        return _refuse("ses", 400, str(error))
    current = settings()
    try:
        sns.verify(message, current)
    except sns.Rejected as rejected:
        return _refuse("ses", rejected.status, rejected.reason)
    kind = message["Type"]
    topic = message.get("TopicArn")
    if kind == "SubscriptionConfirmation":
        return _confirm_subscription(message)
    if kind == "UnsubscribeConfirmation":
        log.warning("SNS: this endpoint was unsubscribed from topic %s", topic)
        return _answer(200, result="unsubscribe confirmation noted")
    try:
        records = ses.records(str(message["Message"]), body.decode("utf-8"))
    except PayloadError as error:
        return _refuse("ses", 400, str(error))
    return _apply("ses", records)


def _confirm_subscription(message: dict[str, Any]) -> Response:
    url = str(message["SubscribeURL"])
    topic = message.get("TopicArn")
    if not settings().sns_confirm_subscriptions:
        log.warning(
            "SNS asks this endpoint to confirm its subscription to topic %s: open %s "
            "(or set SNS_CONFIRM_SUBSCRIPTIONS=1 to let the app do it)",
            topic,
            url,
        )
        return _answer(200, result="subscription confirmation logged")
    if not re.match(settings().sns_cert_url_pattern, url):
        return _refuse("ses", 403, "SubscribeURL is not at an accepted SNS location")
    try:
        sns.fetch(url, max_bytes=sns.CERT_MAX_BYTES)
    except sns.Rejected as rejected:
        return _refuse("ses", rejected.status, rejected.reason)
    log.warning("SNS: subscription to topic %s confirmed", topic)
    return _answer(200, result="subscription confirmed")


def _postmark() -> Response:
    current = settings()
    user, password = current.postmark_webhook_user, current.postmark_webhook_password
    if not (user and password):
        return _refuse(
            "postmark",
            503,
            "the Postmark webhook is not configured: set POSTMARK_WEBHOOK_USER and "
            "POSTMARK_WEBHOOK_PASSWORD, and the same credentials in Postmark's webhook URL",
        )
    if not _basic_auth_matches(user, password):
        response = _refuse("postmark", 401, "wrong or missing credentials")
        response.headers["WWW-Authenticate"] = 'Basic realm="webhooks"'
        return response
    body = request.get_data()
    try:
        payload = load_object(body, "the body")
        records = postmark.records(payload, body.decode("utf-8"))
    except PayloadError as error:
        return _refuse("postmark", 400, str(error))
    return _apply("postmark", records)


def _basic_auth_matches(user: str, password: str) -> bool:
    given = request.authorization
    if given is None or given.type != "basic":
        return False
    # Both compared every time, each in constant time.
    same_user = hmac.compare_digest((given.username or "").encode(), user.encode())
    same_password = hmac.compare_digest((given.password or "").encode(), password.encode())
    return same_user and same_password


def _apply(service: str, records: list[IntakeRecord]) -> Response:
    limit = settings().soft_bounce_limit
    try:
        summary = write(
            lambda session: apply(session, records, soft_bounce_limit=limit), f"webhook {service}"
        )
    except StoreBusy:
        return _refuse(service, 503, "the store is busy; send it again later")
    return _answer(
        200,
        applied={kind.value: count for kind, count in summary.applied.items()},
        already_seen=summary.already_seen,
    )


def _refuse(service: str, status: int, reason: str) -> Response:
    log.warning("webhook %s refused (%d): %s", service, status, reason)
    return _answer(status, error=reason)


def _answer(status: int, **fields: Any) -> Response:
    response = jsonify(fields)
    response.status_code = status
    return response


HANDLERS = {"ses": _ses, "postmark": _postmark}
