"""``postmark://TOKEN@api.postmarkapp.com``: Postmark's batch email API.

Messages go out 500 at a time (the API's limit) as one
``POST /email/batch`` with the server token in ``X-Postmark-Server-Token``.
``?stream=`` names the message stream (default ``broadcast``, Postmark's
stream for newsletters); ``?scheme=`` and ``?timeout=`` are those of every
service (:mod:`worker.mail.http`, which also says what a failed request
means: a 422 or 429 sent nothing, a 5xx may have sent some, a 401 or 403 is
a wrong token).

Each message in the answer has its own ``ErrorCode``
(https://postmarkapp.com/developer/api/overview#error-codes). 0 is
accepted; 406 (the address is inactive: it bounced hard or complained) is
refused for good and suppressed here too; 300 (an invalid request, such as
a malformed address) is refused for good. Every other code speaks of the
account (no sender signature, out of credits, account pending): nothing was
sent, so the message is handed back unsent.

Postmark sets its own Message-ID, so a copy resent after a worker was
killed is not hidden by the reader's mail client as an SMTP resend is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult

from worker.domain.suppression import SuppressionReason
from worker.errors import MailError
from worker.mail.base import Outcome, OutgoingMessage, SendResult
from worker.mail.http import HTTPBackend

BATCH_LIMIT = 500
# Headers Postmark passes through; it sets its own Message-ID and Feedback-ID.
PASSED_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "X-Digest-Test")
INACTIVE_RECIPIENT = 406
INVALID_REQUEST = 300


class PostmarkBackend(HTTPBackend):
    service = "Postmark"
    default_host = "api.postmarkapp.com"
    token_header = "X-Postmark-Server-Token"
    token_name = "server token"
    batch_path = "/email/batch"
    batch_limit = BATCH_LIMIT
    # The server's details: the cheapest request that needs the server token.
    probe_path = "/server"

    def __init__(self, url: SplitResult) -> None:
        super().__init__(url)
        self.stream = self.options.get("stream", "broadcast")

    def payload(self, message: OutgoingMessage) -> dict[str, object]:
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

    def message_answers(self, answer: Any) -> list[Any] | None:
        return answer if isinstance(answer, list) else None

    def result(self, answer: Any) -> SendResult:
        code = answer.get("ErrorCode")
        number = code if isinstance(code, int) else None
        text = str(answer.get("Message", ""))
        if code == 0:
            return SendResult.accepted(None, str(answer.get("MessageID", "")))
        if code == INACTIVE_RECIPIENT:
            return SendResult(
                Outcome.PERMANENT, number, text, suppress=SuppressionReason.HARD_BOUNCE
            )
        if code == INVALID_REQUEST:
            return SendResult(Outcome.PERMANENT, number, text)
        return SendResult(Outcome.UNSENT, number, text)

    def error_words(self, answer: Any) -> str | None:
        if isinstance(answer, dict) and "Message" in answer:
            return str(answer["Message"])
        return None
