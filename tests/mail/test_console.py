"""The console backend: each message printed."""

from __future__ import annotations

import io

from tests.support.outgoing import message
from worker.mail import backend_from_url
from worker.mail.base import Outcome
from worker.mail.console import ConsoleBackend


def test_console_backend_prints_each_message() -> None:
    stream = io.StringIO()
    backend = ConsoleBackend(backend_from_url("console://").url, stream=stream)
    results = backend.send_batch([message(1), message(2)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    assert "Subject: n1" in stream.getvalue() and "Hello 2" in stream.getvalue()
    assert "\r\n" not in stream.getvalue()
