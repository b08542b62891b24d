"""A webhook receiver on loopback that checks every request it gets with an
implementation of the signature scheme that is not ours: the
``standardwebhooks`` package, the Standard Webhooks project's own library.

It answers as the test says (a status for every request, or a script of
statuses for the next ones, or a wait that outlasts the sender's timeout),
can be stopped (connection refused) and started again on the same port,
and keeps every request it got, in order of arrival.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.httpserver import serving


@dataclass(frozen=True)
class Received:
    """One request: its webhook-id, the event's type and data, the body and
    headers as they came, whether the signature verified, and the answer."""

    webhook_id: str
    event_type: str
    data: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    verified: bool
    answered: int


class Receiver:
    """The receiver; ``url`` once started."""

    def __init__(self, secret: str) -> None:
        self.verifier = Webhook(secret)
        self.answer = 204
        self.script: deque[int] = deque()  # answers for the next requests, then ``answer``
        self.hold: threading.Event | None = None  # while set, requests wait on it
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        self._serving = ExitStack()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/verdicts"

    def start(self) -> Receiver:
        """Listen (on the port it had, if it was started before)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._take(self)

            def log_message(self, *args: object) -> None:
                pass

        self.port = self._serving.enter_context(serving(Handler, self.port))
        return self

    def stop(self) -> None:
        """Stop listening: a connection is refused until :meth:`start`."""
        self._serving.close()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        """The requests, once there are at least ``count``; AssertionError
        after ``timeout`` seconds without them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.received)} webhooks came, not {count}"
                self._arrived.wait(left)
            return list(self.received)

    def accepted(self) -> list[Received]:
        """The requests answered 2xx, in order of arrival."""
        return [r for r in self.received if 200 <= r.answered < 300]

    def _take(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        headers = dict(request.headers.items())
        try:
            event = self.verifier.verify(body, headers)
            verified = True
        except WebhookVerificationError:
            event, verified = json.loads(body), False
        if self.hold is not None:
            self.hold.wait(30)
        with self._arrived:
            status = self.script.popleft() if self.script else self.answer
            status = status if verified else 400
            self.received.append(
                Received(
                    headers.get("webhook-id", ""),
                    event.get("type", ""),
                    event.get("data", {}),
                    body,
                    headers,
                    verified,
                    status,
                )
            )
            self._arrived.notify_all()
        request.send_response(status)
        request.send_header("Content-Type", "text/plain")
        request.end_headers()
        request.wfile.write(b"gone" if status == 410 else b"thanks")


def receiving(secret: str) -> Iterator[Receiver]:
    """A started receiver, stopped afterwards (a fixture's body)."""
    receiver = Receiver(secret).start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        receiver.stop()
