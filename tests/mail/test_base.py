"""The backend interface: MAIL_URL's options, the rate limit read from them,
and the context manager closing a backend whose open failed."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.smtpserver import Handler, self_signed, smtp_server
from worker.errors import MailError
from worker.mail import backend_from_url
from worker.mail.base import MailBackend, OutgoingMessage, SendResult, url_options


def test_url_options_keep_the_last_value_of_a_name() -> None:
    url = urlsplit("smtp://relay.example?timeout=5&verify=off&timeout=7&empty=")
    assert url_options(url) == {"timeout": "7", "verify": "off"}
    assert backend_from_url("memory://?timeout=5&timeout=7").options == {"timeout": "7"}


def test_a_rate_limit_is_read_from_the_url_of_any_backend() -> None:
    backend = backend_from_url("memory://?rate=50&burst=5")
    assert backend.rate_limit is not None
    assert (backend.rate_limit.rate, backend.rate_limit.burst) == (50, 5)
    assert backend_from_url("memory://").rate_limit is None
    with pytest.raises(MailError, match="rate and burst"):
        backend_from_url("memory://?rate=fast")


@dataclass
class QuitCounter(Handler):
    quits: int = 0

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 Bye"


class LoginOnOpen(MailBackend):
    """A plugin backend that connects and logs in when opened, as a relay
    backend does, and says QUIT when closed."""

    def __init__(self, url: SplitResult) -> None:
        super().__init__(url)
        self.connection: smtplib.SMTP | None = None

    def open(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.connection = smtplib.SMTP_SSL(
            self.url.hostname, self.url.port, timeout=5, context=context
        )
        self.connection.login(unquote(self.url.username or ""), unquote(self.url.password or ""))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.quit()
            self.connection = None

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        return [SendResult.accepted() for _ in messages]


def test_a_backend_whose_open_fails_is_closed(tmp_path: Path) -> None:
    """The server refuses the login after the connection is made: leaving
    the ``with`` closes that connection (the server hears QUIT)."""
    handler = QuitCounter()
    tls = self_signed(tmp_path)
    with smtp_server(
        handler, tls_context=tls, implicit_tls=True, auth=("digest", "right")
    ) as server:
        backend = LoginOnOpen(urlsplit(f"smtps://digest:wrong@127.0.0.1:{server.port}"))
        with pytest.raises(smtplib.SMTPAuthenticationError), backend:
            pytest.fail("the body of a backend that could not open never runs")
        assert backend.connection is None
        assert handler.quits == 1
