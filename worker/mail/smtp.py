"""``smtp://`` and ``smtps://``: an SMTP relay over a pool of reused connections.

``smtp://user:pass@host:587`` upgrades with STARTTLS when the server offers
it (``?starttls=require`` insists, ``?starttls=off`` never tries);
``smtps://user:pass@host:465`` is TLS from the first byte. ``?timeout=``
sets the socket timeout in seconds (default 30), ``?verify=off`` skips
certificate checks (for local test servers only), ``?connections=N`` sends
over a pool of N connections at once (default 1). The password never appears
in an error or a log line.

One thread drives the pool (:mod:`worker.mail.smtppool`). Where the server
offers PIPELINING (RFC 2920), each message's content goes out in one write
with the next message's MAIL, RCPT and DATA, so a message costs one round
trip instead of four. ``?rate=`` paces the pool as a whole.
"""

from __future__ import annotations

import logging
import selectors
import smtplib
import ssl
from collections.abc import Iterable
from urllib.parse import SplitResult, unquote

from worker.config import redact_url
from worker.errors import MailError
from worker.mail.base import MailBackend, OutgoingMessage, SendResult
from worker.mail.smtppool import Connection, Run, drive
from worker.mail.smtpreplies import describe

log = logging.getLogger("worker.mail")

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


class SMTPBackend(MailBackend):
    """Sends over a pool of connections, each reused for every message and
    reconnected once when the server drops it."""

    def __init__(self, url: SplitResult) -> None:
        super().__init__(url)
        self.implicit_tls = url.scheme == "smtps"
        self.host = url.hostname or "localhost"
        try:
            self.port = url.port or DEFAULT_PORTS[url.scheme]
            self.timeout = float(self.options.get("timeout", "30"))
            self.connections = max(1, int(self.options.get("connections", "1")))
        except ValueError:
            raise MailError(
                f"MAIL_URL: bad port, timeout or connections in {self.shown_url}"
            ) from None
        self.username = unquote(url.username) if url.username else None
        self._password = unquote(url.password) if url.password else ""
        self.starttls = self.options.get("starttls", "auto")
        if self.starttls not in ("auto", "require", "off"):
            raise MailError("MAIL_URL: starttls must be auto, require or off")
        self.context = ssl.create_default_context()
        if self.options.get("verify") == "off":
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        selector = selectors.DefaultSelector()
        self.channels = [Connection(self, selector) for _ in range(self.connections)]
        self._down_logged = False

    @property
    def shown_url(self) -> str:
        return redact_url(self.url.geturl())

    def open(self) -> None:
        """Connect the first channel (the others connect when first used);
        raises MailError when the server cannot be reached or refuses us."""
        try:
            self.channels[0].open()
        except (smtplib.SMTPException, OSError) as error:
            raise MailError(f"cannot send through {self.shown_url}: {describe(error)}") from None

    def connect(self) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if self.implicit_tls:
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            _greet(connection)
            if not self.implicit_tls and self.starttls != "off":
                if connection.has_extn("starttls"):
                    connection.starttls(context=self.context)
                    _greet(connection)
                elif self.starttls == "require":
                    raise MailError(f"{self.shown_url}: the server does not offer STARTTLS")
            if self.username:
                connection.login(self.username, self._password)
        except BaseException:
            quietly_close(connection)
            raise
        log.info("connected to %s", self.shown_url)
        return connection

    def close(self) -> None:
        for channel in self.channels:
            channel.close()

    def paced(self, messages: Iterable[OutgoingMessage]) -> Iterable[OutgoingMessage]:
        """``messages`` as they come: the pool paces itself, so that a wait
        for the rate limit never holds a transaction open."""
        return messages

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        # One thread drives every connection; composing happens as a free
        # connection takes the next message (``messages`` may be a generator).
        run = Run(self, iter(messages))
        drive(self.channels, run)
        return run.results()

    def channel_down(self, why: str) -> None:
        """Say once per process that a connection could not send (the worker
        says more when none of them can)."""
        if not self._down_logged:
            self._down_logged = True
            log.warning("an SMTP connection to %s cannot send: %s", self.shown_url, why)


def _greet(connection: smtplib.SMTP) -> None:
    """EHLO; a server that answers it with a refusal (421 too many
    connections, 554 not welcome) raises instead of being talked to anyway."""
    code, reply = connection.ehlo()
    if code != 250:
        raise smtplib.SMTPHeloError(code, reply)


def quietly_close(connection: smtplib.SMTP) -> None:
    """Say QUIT; just close a connection that cannot."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
