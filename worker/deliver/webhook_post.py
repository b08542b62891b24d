"""One webhook POSTed: signed as Standard Webhooks says, within
``WEBHOOK_TIMEOUT``, to an address ``WEBHOOK_ALLOW_PRIVATE`` lets the
worker reach (:mod:`worker.ingest.outbound`), no redirect followed.

The attempt's ``webhook-timestamp`` is this machine's time as it sends
(a receiver compares it with its own clock), whatever clock scheduled it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from http.client import HTTPException

from worker.config import Settings
from worker.domain.webhooks import EventType, event_body, new_message_id, signed_headers
from worker.ingest.deadline import Deadline
from worker.ingest.lengths import CONTROL
from worker.ingest.outbound import AddressRefused, allowed_hosts, exchange, failure
from worker.now import process_now

#: How much of a receiver's answer is kept (shown by ``digest webhooks test``,
#: stored with a failure).
ANSWER_CHARS = 500
USER_AGENT = "verdict-digest-webhooks/0.1"


@dataclass(frozen=True)
class PostResult:
    """What one POST got: the HTTP status (None when no answer came), one
    line on what went wrong (None for a 2xx), the start of the answer's
    body, and how long it took."""

    status: int | None
    error: str | None
    answer: str
    seconds: float

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """The receiver answered 410 Gone: it wants no more."""
        return self.status == 410


def post(url: str, message_id: str, body: str, settings: Settings) -> PostResult:
    """POST ``body`` to ``url`` as the webhook ``message_id``; never raises
    for what the network or the receiver does."""
    started = time.monotonic()
    data = body.encode("utf-8")
    headers = {
        **signed_headers(settings.webhook_key, message_id, process_now(), data),
        "User-Agent": USER_AGENT,
    }
    allowed = allowed_hosts("WEBHOOK_ALLOW_PRIVATE", settings.webhook_allow_private)
    timed_out = f"timed out after {settings.webhook_timeout:g} s"
    with Deadline(settings.webhook_timeout) as deadline:
        try:
            with exchange("POST", url, headers, data, allowed, deadline) as reply:
                answer = reply.read(ANSWER_CHARS)
                status, reason = reply.status, reply.reason
        except AddressRefused as error:
            problem = f"{error}; WEBHOOK_ALLOW_PRIVATE lists the private hosts webhooks may go to"
            return _failed(problem, started)
        except TimeoutError:
            return _failed(timed_out, started)
        except (OSError, HTTPException) as error:
            # A connection the watchdog shut down fails in whatever way the
            # read in hand fails.
            return _failed(timed_out if deadline.expired else failure(error), started)
    shown = CONTROL.sub(" ", answer.decode("utf-8", "replace"))[:ANSWER_CHARS].strip()
    error = None if 200 <= status < 300 else f"HTTP {status} {reason}".strip()
    return PostResult(status, error, shown, time.monotonic() - started)


def post_test(url: str, settings: Settings) -> tuple[str, PostResult]:
    """Send a ``webhook.test`` event to ``url`` now (it is not stored);
    its ``webhook-id`` and what the receiver answered."""
    message_id = new_message_id()
    body = event_body(EventType.WEBHOOK_TEST, process_now(), {"test": True})
    return message_id, post(url, message_id, body, settings)


def _failed(error: str, started: float) -> PostResult:
    return PostResult(None, error, "", time.monotonic() - started)
