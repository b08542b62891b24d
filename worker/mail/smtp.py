"""``smtp://`` and ``smtps://``: an SMTP relay over one reused connection.

``smtp://user:pass@host:587`` upgrades with STARTTLS when the server offers
it (``?starttls=require`` insists, ``?starttls=off`` never tries);
``smtps://user:pass@host:465`` is TLS from the first byte. ``?timeout=``
sets the socket timeout in seconds (default 30), ``?verify=off`` skips
certificate checks (for local test servers only), ``?connections=N`` sends
over a pool of N connections at once (default 1). The password never appears
in an error or a log line.

Where the server offers PIPELINING (RFC 2920), each message's content goes
out in one write with the next message's MAIL, RCPT and DATA, so a message
costs one round trip instead of four.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
from collections import deque
from collections.abc import Callable, Iterable
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
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="smtp")
        # The channels send from their own threads, even when there is only
        # one: this thread composes (``messages`` may be a generator) while
        # they wait on the network. The queue is bounded so that composing
        # runs ahead by a few messages, never by a whole batch held in memory.
        work: queue.Queue[tuple[int, OutgoingMessage] | None] = queue.Queue(2 * self.connections)
        answers: dict[int, SendResult] = {}

        def answer(index: int, result: SendResult) -> None:
            answers[index] = result

        running = [self._pool.submit(c.serve, work.get, answer) for c in self.channels]
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


Item = tuple[int, OutgoingMessage]


class _Channel:
    """One SMTP connection of the pool.

    Where the server offers PIPELINING (RFC 2920), a message's content and
    end-of-data go out in one write with the next message's MAIL, RCPT and
    DATA, so a message costs one round trip. A connection dropped before a
    message's final reply sends that message again once, on a new connection;
    a timeout defers it instead, since the server may have accepted it.
    """

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

    def _reset(self) -> None:
        """End a refused transaction; a server that fails RSET is dialled again."""
        if self.connection is None:
            return
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def serve(
        self, take: Callable[[], Item | None], answer: Callable[[int, SendResult], None]
    ) -> None:
        """Send what ``take`` gives until it gives None; ``answer`` each message."""
        backlog: deque[Item] = deque()
        ended = False

        def following() -> Item | None:
            # ``take`` gives None once per channel: after it, never ask again.
            nonlocal ended
            while True:
                if backlog:
                    item = backlog.popleft()
                elif ended:
                    return None
                else:
                    item = take()
                    ended = item is None
                if item is None or _fits_envelope(item[1]):
                    return item
                answer(item[0], _UNUSABLE)

        current = following()
        tries = 0
        announced = False  # current's envelope went out with the previous message
        while current is not None:
            index, message = current
            after: Item | None = None
            try:
                connection = self.ensure_open()
                if not connection.has_extn("pipelining"):
                    answer(index, _one_by_one(connection, message))
                    current, tries = following(), 0
                    continue
                if not announced:
                    connection.send(_envelope(message))
                announced = False
                mail, rcpt, data = (
                    connection.getreply(),
                    connection.getreply(),
                    connection.getreply(),
                )
                if data[0] != 354:
                    answer(index, _refusal(mail, rcpt, data))
                    current, tries = following(), 0
                    self._reset()
                    continue
                after = following()
                refused = mail[0] != 250 or rcpt[0] not in (250, 251)
                # A server that took DATA despite a refusal gets no content.
                payload = b".\r\n" if refused else _content(message.data)
                if after is not None:
                    payload += _envelope(after[1])
                connection.send(payload)
                announced = after is not None
                final = connection.getreply()
                answer(index, _refusal(mail, rcpt, final) if refused else _result(*final))
                current, tries = after, 0
            except smtplib.SMTPServerDisconnected as error:
                self.close()
                announced = False
                if after is not None:
                    backlog.appendleft(after)
                tries += 1
                if tries == 2 or "timed out" in str(error):
                    answer(index, SendResult(Outcome.TRANSIENT, None, f"disconnected: {error}"))
                    current, tries = following(), 0
            except smtplib.SMTPRecipientsRefused as error:
                code, text = error.recipients.get(message.recipient, (None, b""))
                answer(index, _result(code, text))
                current, tries = following(), 0
            except smtplib.SMTPResponseException as error:
                # Sender refused, data refused, or a failed reconnect's reply.
                if not isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
                    self.close()
                answer(index, _result(error.smtp_code, error.smtp_error))
                current, tries = following(), 0
            except (MailError, OSError, smtplib.SMTPException) as error:
                # Timeouts and refused connections: the connection is unusable.
                self.close()
                announced = False
                if after is not None:
                    backlog.appendleft(after)
                text = str(error) if isinstance(error, MailError) else _describe(error)
                answer(index, SendResult(Outcome.TRANSIENT, None, text))
                current, tries = following(), 0


# An address that would break the SMTP command it goes into.
_UNUSABLE = SendResult(Outcome.PERMANENT, 501, "5.1.3 address not usable in an SMTP envelope")


def _fits_envelope(message: OutgoingMessage) -> bool:
    return not any(
        ch in address for address in (message.envelope_from, message.recipient) for ch in "\r\n<>"
    ) and (message.recipient.isascii() and message.envelope_from.isascii())


def _one_by_one(connection: smtplib.SMTP, message: OutgoingMessage) -> SendResult:
    """A server without PIPELINING: smtplib's command by command."""
    connection.sendmail(message.envelope_from, [message.recipient], message.data)
    return SendResult.accepted()


def _envelope(message: OutgoingMessage) -> bytes:
    return (
        f"MAIL FROM:<{message.envelope_from}>\r\nRCPT TO:<{message.recipient}>\r\nDATA\r\n"
    ).encode("ascii")


def _content(data: bytes) -> bytes:
    """The message, dot-stuffed, and the end-of-data line.

    The content is already CRLF-terminated (worker.compose); only leading
    dots need doubling, which bytes.replace does far faster than smtplib's
    regular expressions.
    """
    body = data if data.endswith(b"\r\n") else data + b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    return body.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def _refusal(
    mail: tuple[int, bytes], rcpt: tuple[int, bytes], last: tuple[int, bytes]
) -> SendResult:
    """The answer to a transaction: the first refusal in it, else its last reply."""
    if mail[0] != 250:
        return _result(*mail)
    if rcpt[0] not in (250, 251):
        return _result(*rcpt)
    return _result(*last)


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
