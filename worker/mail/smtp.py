"""``smtp://`` and ``smtps://``: an SMTP relay over one reused connection.

``smtp://user:pass@host:587`` upgrades with STARTTLS when the server offers
it (``?starttls=require`` insists, ``?starttls=off`` never tries);
``smtps://user:pass@host:465`` is TLS from the first byte. ``?timeout=``
sets the socket timeout in seconds (default 30), ``?verify=off`` skips
certificate checks (for local test servers only), ``?connections=N`` sends
over a pool of N connections at once (default 1). The password never appears
in an error or a log line.

Where the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in
one write, so a message costs two round trips instead of four.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import SplitResult, parse_qs, unquote

from worker.config import redact_url
from worker.errors import MailError
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult

log = logging.getLogger("worker.mail")

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


class SMTPBackend(MailBackend):
    """Sends over a pool of connections, each reused for every message and
    reconnected once when the server drops it."""

    def __init__(self, url: SplitResult) -> None:
        super().__init__(url)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.implicit_tls = url.scheme == "smtps"
        self.host = url.hostname or "localhost"
        try:
            self.port = url.port or DEFAULT_PORTS[url.scheme]
            self.timeout = float(query.get("timeout", "30"))
            self.connections = max(1, int(query.get("connections", "1")))
        except ValueError:
            raise MailError(
                f"MAIL_URL: bad port, timeout or connections in {self.shown_url}"
            ) from None
        self.username = unquote(url.username) if url.username else None
        self._password = unquote(url.password) if url.password else ""
        self.starttls = query.get("starttls", "auto")
        if self.starttls not in ("auto", "require", "off"):
            raise MailError("MAIL_URL: starttls must be auto, require or off")
        self.context = ssl.create_default_context()
        if query.get("verify") == "off":
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.channels = [_Channel(self) for _ in range(self.connections)]
        self._pool: ThreadPoolExecutor | None = None

    @property
    def shown_url(self) -> str:
        return redact_url(self.url.geturl())

    def open(self) -> None:
        """Connect the first channel (the others connect when first used);
        raises MailError when the server cannot be reached or refuses us."""
        try:
            self.channels[0].ensure_open()
        except (smtplib.SMTPException, OSError) as error:
            raise MailError(f"cannot send through {self.shown_url}: {_describe(error)}") from None

    def connect(self) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if self.implicit_tls:
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            connection.ehlo()
            if not self.implicit_tls and self.starttls != "off":
                if connection.has_extn("starttls"):
                    connection.starttls(context=self.context)
                    connection.ehlo()
                elif self.starttls == "require":
                    raise MailError(f"{self.shown_url}: the server does not offer STARTTLS")
            if self.username:
                connection.login(self.username, self._password)
        except BaseException:
            _quietly_close(connection)
            raise
        log.info("connected to %s", self.shown_url)
        return connection

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        if self.connections == 1:
            return [self.channels[0].send(m) for m in messages]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="smtp")
        # Each channel takes the next message as soon as it is free; this
        # thread composes (the generator) while the channels wait on the
        # network.
        # Bounded: composing may run ahead of the network by a few messages,
        # not by a whole batch of them held in memory.
        work: queue.Queue[tuple[int, OutgoingMessage] | None] = queue.Queue(2 * self.connections)
        answers: dict[int, SendResult] = {}

        def drain(channel: _Channel) -> None:
            while (item := work.get()) is not None:
                answers[item[0]] = channel.send(item[1])

        running = [self._pool.submit(drain, channel) for channel in self.channels]
        count = 0
        try:
            for count, message in enumerate(messages, start=1):
                work.put((count - 1, message))
        finally:
            for _ in self.channels:
                work.put(None)
            for future in running:
                future.result()
        return [answers[n] for n in range(count)]


class _Channel:
    """One SMTP connection of the pool."""

    def __init__(self, backend: SMTPBackend) -> None:
        self.backend = backend
        self.connection: smtplib.SMTP | None = None

    def ensure_open(self) -> smtplib.SMTP:
        if self.connection is None:
            self.connection = self.backend.connect()
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            _quietly_close(self.connection)
            self.connection = None

    def send(self, message: OutgoingMessage) -> SendResult:
        for attempt in (1, 2):
            try:
                connection = self.ensure_open()
                if connection.has_extn("pipelining"):
                    return _pipelined(connection, message)
                connection.sendmail(message.envelope_from, [message.recipient], message.data)
                return SendResult.accepted()
            except smtplib.SMTPServerDisconnected as error:
                self.close()
                if attempt == 2 or "timed out" in str(error):
                    # A timeout may hide an accepted message: defer rather
                    # than resend at once.
                    return SendResult(Outcome.TRANSIENT, None, f"disconnected: {error}")
            except smtplib.SMTPRecipientsRefused as error:
                code, text = error.recipients.get(message.recipient, (None, b""))
                return _result(code, text)
            except smtplib.SMTPResponseException as error:
                # Sender refused, data refused, or a failed reconnect's reply.
                if not isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
                    self.close()
                return _result(error.smtp_code, error.smtp_error)
            except MailError as error:
                self.close()
                return SendResult(Outcome.TRANSIENT, None, str(error))
            except (OSError, smtplib.SMTPException) as error:
                # Timeouts and refused connections: the connection is unusable.
                self.close()
                return SendResult(Outcome.TRANSIENT, None, _describe(error))
        raise AssertionError("unreachable")


def _pipelined(connection: smtplib.SMTP, message: OutgoingMessage) -> SendResult:
    """MAIL, RCPT and DATA in one write, then the content: two round trips.

    The content is already CRLF-terminated (worker.compose); only leading
    dots need doubling, which bytes.replace does far faster than smtplib's
    regular expressions.
    """
    envelope = (
        f"MAIL FROM:<{message.envelope_from}>\r\nRCPT TO:<{message.recipient}>\r\nDATA\r\n"
    ).encode("ascii")
    connection.send(envelope)
    mail, rcpt, data = connection.getreply(), connection.getreply(), connection.getreply()
    if data[0] == 354:
        body = message.data if message.data.endswith(b"\r\n") else message.data + b"\r\n"
        if body.startswith(b"."):
            body = b"." + body
        connection.send(body.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        final = connection.getreply()
        if mail[0] != 250 or rcpt[0] not in (250, 251):
            # The server took DATA despite a refusal: whatever it says, the
            # refusal is the answer (and the transaction is over either way).
            return _result(*(rcpt if rcpt[0] >= 400 else mail))
        return _result(*final)
    connection.rset()
    if mail[0] != 250:
        return _result(*mail)
    if rcpt[0] not in (250, 251):
        return _result(*rcpt)
    return _result(*data)


def _result(code: int | None, text: bytes | str) -> SendResult:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if code is not None and 200 <= code < 300:
        return SendResult.accepted(code, reply)
    if code is not None and code >= 500:
        return SendResult(Outcome.PERMANENT, code, reply)
    return SendResult(Outcome.TRANSIENT, code, reply)


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"{error.smtp_code} {reply}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _quietly_close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
