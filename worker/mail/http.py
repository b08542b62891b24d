"""What every email service's HTTP API backend shares (django-anymail's
``base_requests`` is the model): a batch of messages POSTed as JSON with the
token in a header, and what a failed request means.

A service's backend is a subclass that names the service, its host, its
token header and its batch endpoint and limit, and gives a payload per
message (:meth:`HTTPBackend.payload`) and a result per message from the
answer (:meth:`HTTPBackend.message_answers`, :meth:`HTTPBackend.result`).
This module owns the rest:

- ``scheme://TOKEN@host`` in ``MAIL_URL``: the token goes in the service's
  header and is masked in :attr:`HTTPBackend.shown_url`; ``?scheme=http``
  is for a local test server only; ``?timeout=`` in seconds (default 30).
- A request that fails answers every message of its batch alike:

  ======================================  ======================================
  the request                             the messages
  ======================================  ======================================
  could not be made (refused, no route)   UNSENT: nothing went out
  answered 401 or 403                     MailError: the token is wrong, which
                                          no retry mends
  answered another 4xx (422, 429)         UNSENT: the service sent nothing
  answered 5xx                            TRANSIENT: some may have been sent;
                                          retries are counted and capped
  went out, no whole answer came back     TRANSIENT: they may have been sent
  an answer that does not fit the batch   TRANSIENT
  ======================================  ======================================
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import SplitResult, unquote

from worker.errors import MailError
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult

#: The statuses that say the token is wrong.
TOKEN_REFUSED = (401, 403)


class HTTPBackend(MailBackend):
    """An email service's HTTP API; subclasses set the class attributes and
    implement :meth:`payload`, :meth:`message_answers` and :meth:`result`."""

    wants_fields = True

    service: ClassVar[str]  # its name in messages: "Postmark"
    default_host: ClassVar[str]
    token_header: ClassVar[str]
    token_name: ClassVar[str]  # what the service calls its token: "server token"
    batch_path: ClassVar[str]  # where a batch is POSTed
    batch_limit: ClassVar[int]  # the most messages one request may carry
    # A GET that needs the token and sends nothing; None: health checks cannot reach it.
    probe_path: ClassVar[str | None] = None

    def __init__(self, url: SplitResult) -> None:
        super().__init__(url)
        self._token = unquote(url.username or "")
        if not self._token:
            raise MailError(
                f"MAIL_URL: {url.scheme}://TOKEN@{self.default_host} needs a {self.token_name}"
            )
        host = url.hostname or self.default_host
        port = f":{url.port}" if url.port else ""
        self.api_root = f"{self.options.get('scheme', 'https')}://{host}{port}"
        try:
            self.timeout = float(self.options.get("timeout", "30"))
        except ValueError:
            raise MailError("MAIL_URL: timeout must be a number") from None

    @property
    def shown_url(self) -> str:
        """``MAIL_URL`` with the token masked."""
        return self.url._replace(netloc=f"***@{self.url.hostname}").geturl()

    def payload(self, message: OutgoingMessage) -> dict[str, object]:
        """One message as the service's API takes it."""
        raise NotImplementedError

    def message_answers(self, answer: Any) -> list[Any] | None:
        """The parts of a batch's answer (its JSON) that speak of each
        message, in order; None when the answer is not one the service gives."""
        raise NotImplementedError

    def result(self, answer: Any) -> SendResult:
        """One message's result from its part of the answer."""
        raise NotImplementedError

    def error_words(self, answer: Any) -> str | None:
        """The service's words in a refusal's answer (its JSON), if it has any."""
        return None

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        chunk: list[dict[str, object]] = []
        for message in messages:
            chunk.append(self.payload(message))
            if len(chunk) == self.batch_limit:
                results += self._post(chunk)
                chunk = []
        if chunk:
            results += self._post(chunk)
        return results

    def request(self, path: str, body: object = None) -> bytes:
        """The service's answer to ``path`` with the token: a POST of ``body``
        as JSON, or a GET without one. Raises what urllib raises."""
        headers = {"Accept": "application/json", self.token_header: self._token}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.api_root + path, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return bytes(response.read())

    def _post(self, payloads: list[dict[str, object]]) -> list[SendResult]:
        """One request for a batch; one result per message (see the table above)."""
        count = len(payloads)
        try:
            answer = json.loads(self.request(self.batch_path, payloads))
        except urllib.error.HTTPError as error:
            detail = f"HTTP {error.code}: {self._refusal_words(error)}"
            if error.code in TOKEN_REFUSED:
                raise MailError(
                    f"{self.shown_url}: refused the {self.token_name} ({detail})"
                ) from None
            outcome = Outcome.TRANSIENT if error.code >= 500 else Outcome.UNSENT
            return [SendResult(outcome, error.code, detail)] * count
        except urllib.error.URLError as error:
            # Raised while connecting or sending the request: nothing went out.
            return [SendResult(Outcome.UNSENT, None, f"unreachable: {error.reason}")] * count
        except (OSError, ValueError) as error:
            text = f"no answer from {self.service}: {type(error).__name__}: {error}"
            return [SendResult(Outcome.TRANSIENT, None, text)] * count
        parts = self.message_answers(answer)
        if parts is None or len(parts) != count:
            unexpected = SendResult(
                Outcome.TRANSIENT, None, f"unexpected answer from {self.service}"
            )
            return [unexpected] * count
        return [self.result(part) for part in parts]

    def _refusal_words(self, error: urllib.error.HTTPError) -> str:
        try:
            words = self.error_words(json.loads(error.read() or b"{}"))
        except ValueError:
            words = None
        return error.reason if words is None else words
