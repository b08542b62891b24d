"""``postmark://TOKEN@api.postmarkapp.com``: Postmark's batch email API.

Messages go out 500 at a time (the API's limit) as one
``POST /email/batch`` with the server token in ``X-Postmark-Server-Token``.
``?stream=`` names the message stream (default ``broadcast``, Postmark's
stream for newsletters); ``?scheme=http`` is for a local test server only;
``?timeout=`` in seconds (default 30).

Each message in the answer has its own ``ErrorCode``
(https://postmarkapp.com/developer/api/overview#error-codes). 0 is
accepted; 406 (the address is inactive: it bounced hard or complained) is
refused for good and suppressed here too; 300 (an invalid request, such as
a malformed address) is refused for good. Every other code speaks of the
account (no sender signature, out of credits, account pending): nothing was
sent, so the batch is handed back unsent, as it is for a 422 or 429
answer or a connection that cannot be made. A 5xx answer, or a request
that went out and got no whole answer, may have sent some: those are
retried as transient failures, so that the attempts, and any copies, are
counted and capped. 401 and 403 mean the token is wrong, which no retry
mends.

Postmark sets its own Message-ID, so a copy resent after a worker was
killed is not hidden by the reader's mail client as an SMTP resend is.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from urllib.parse import SplitResult, parse_qs, unquote

from worker.domain.suppression import SuppressionReason
from worker.errors import MailError
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult

log = logging.getLogger("worker.mail")

BATCH_LIMIT = 500
# Headers Postmark passes through; it sets its own Message-ID and Feedback-ID.
PASSED_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "X-Digest-Test")


class PostmarkBackend(MailBackend):
    wants_fields = True

    def __init__(self, url: SplitResult) -> None:
        super().__init__(url)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._token = unquote(url.username or "")
        if not self._token:
            raise MailError("MAIL_URL: postmark://TOKEN@api.postmarkapp.com needs a server token")
        scheme = query.get("scheme", "https")
        host = url.hostname or "api.postmarkapp.com"
        port = f":{url.port}" if url.port else ""
        self.endpoint = f"{scheme}://{host}{port}/email/batch"
        self.stream = query.get("stream", "broadcast")
        try:
            self.timeout = float(query.get("timeout", "30"))
        except ValueError:
            raise MailError("MAIL_URL: timeout must be a number") from None

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        chunk: list[dict[str, object]] = []
        for message in messages:
            chunk.append(self._payload(message))
            if len(chunk) == BATCH_LIMIT:
                results += self._post(chunk)
                chunk = []
        if chunk:
            results += self._post(chunk)
        return results

    def _payload(self, message: OutgoingMessage) -> dict[str, object]:
        fields = message.fields
        if fields is None:
            raise MailError("the Postmark backend sends message fields: compose with_fields")
        return {
            "From": fields.sender,
            "To": fields.to,
            "Subject": fields.subject,
            "TextBody": fields.text,
            "HtmlBody": fields.html,
            "MessageStream": self.stream,
            "Headers": [
                {"Name": name, "Value": value}
                for name, value in fields.headers
                if name in PASSED_HEADERS
            ],
        }

    def _post(self, payload: list[dict[str, object]]) -> list[SendResult]:
        request = urllib.request.Request(
            self.endpoint,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "X-Postmark-Server-Token": self._token,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answers = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = _error_text(error)
            if error.code in (401, 403):
                raise MailError(f"{self.shown_url}: refused the server token ({detail})") from None
            # 5xx: Postmark may have sent some; retrying counts attempts, so
            # copies stop at DELIVERY_MAX_ATTEMPTS. 422, 429: it sent nothing.
            outcome = Outcome.TRANSIENT if error.code >= 500 else Outcome.UNSENT
            return [SendResult(outcome, error.code, detail)] * len(payload)
        except urllib.error.URLError as error:
            # Raised while connecting or sending the request: nothing went out.
            return [SendResult(Outcome.UNSENT, None, f"unreachable: {error.reason}")] * len(payload)
        except (OSError, ValueError) as error:
            # The request went out and the answer did not come back whole:
            # the messages may have been sent.
            text = f"no answer from Postmark: {type(error).__name__}: {error}"
            return [SendResult(Outcome.TRANSIENT, None, text)] * len(payload)
        if not isinstance(answers, list) or len(answers) != len(payload):
            unexpected = SendResult(Outcome.TRANSIENT, None, "unexpected answer from Postmark")
            return [unexpected] * len(payload)
        return [_result(answer) for answer in answers]

    @property
    def shown_url(self) -> str:
        return self.url._replace(netloc=f"***@{self.url.hostname}").geturl()


INACTIVE_RECIPIENT = 406
INVALID_REQUEST = 300


def _result(answer: dict[str, object]) -> SendResult:
    code = answer.get("ErrorCode")
    number = code if isinstance(code, int) else None
    text = str(answer.get("Message", ""))
    if code == 0:
        return SendResult.accepted(None, str(answer.get("MessageID", "")))
    if code == INACTIVE_RECIPIENT:
        return SendResult(Outcome.PERMANENT, number, text, suppress=SuppressionReason.HARD_BOUNCE)
    if code == INVALID_REQUEST:
        return SendResult(Outcome.PERMANENT, number, text)
    return SendResult(Outcome.UNSENT, number, text)


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
        return f"HTTP {error.code}: {body.get('Message', error.reason)}"
    except (ValueError, AttributeError):
        return f"HTTP {error.code}: {error.reason}"
