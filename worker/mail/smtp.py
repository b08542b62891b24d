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

import enum
import logging
import smtplib
import ssl
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote

from worker.config import redact_url
from worker.errors import MailError
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult
from worker.mail.batch import Item, SharedBatch
from worker.mail.smtpreplies import (
    about_us,
    describe,
    reply_result,
    reply_text,
    transaction_result,
)

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
        self.channels = [_Channel(self) for _ in range(self.connections)]
        self._pool: ThreadPoolExecutor | None = None
        self._down_logged = False

    @property
    def shown_url(self) -> str:
        return redact_url(self.url.geturl())

    def open(self) -> None:
        """Connect the first channel (the others connect when first used);
        raises MailError when the server cannot be reached or refuses us."""
        try:
            self.channels[0].ensure_open()
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
        batch = SharedBatch(2 * self.connections, len(self.channels))
        running = [self._pool.submit(channel.serve, batch) for channel in self.channels]
        count = 0
        try:
            for count, message in enumerate(messages, start=1):
                batch.offer((count - 1, message))
        finally:
            batch.composed.set()
            for future in running:
                future.result()
        batch.answer_the_rest()
        return [batch.answers[n] for n in range(count)]

    def channel_down(self, why: str) -> None:
        """Say once per process that a connection could not send (the worker
        says more when none of them can)."""
        if not self._down_logged:
            self._down_logged = True
            log.warning("an SMTP connection to %s cannot send: %s", self.shown_url, why)


# A ride-along waits this long (seconds) for the next message to be composed.
_RIDE_ALONG = 0.005


class _SenderRefused(MailError):
    """The server refused our envelope sender outright (5xx to MAIL FROM, or
    a refusal at RCPT that is about us): no recipient of the batch can be
    sent through it."""

    def __init__(self, code: int, text: bytes | str) -> None:
        super().__init__(f"{code} {reply_text(text)}")
        self.code = code


class _Action(enum.Enum):
    """What a channel does about a failure in a message's transaction."""

    ANSWER = "answer the message with the failure's result and go on"
    DEFER = "drop the connection, answer the message transient and go on"
    RETRY = "drop the connection and send the message once more on a new one, else DEFER"
    GIVE_UP = "give up this connection for the batch and hand its messages back"


@dataclass(frozen=True)
class _Failure:
    action: _Action
    code: int | None
    text: str
    unexpected: bool = False  # says nothing of SMTP: logged with its traceback


def _failure(error: Exception, connected: bool) -> _Failure:
    """What ``error`` means for the message being sent and its channel: the
    one table from failure to action, read top down."""
    match error:
        case _ if not connected:  # cannot connect, greet or log in: not the message's fault
            return _Failure(_Action.GIVE_UP, *_why(error))
        case _SenderRefused():
            return _Failure(_Action.GIVE_UP, error.code, str(error))
        case smtplib.SMTPSenderRefused() if error.smtp_code < 500:  # 4xx: this message, later
            return _Failure(_Action.ANSWER, error.smtp_code, reply_text(error.smtp_error))
        case smtplib.SMTPRecipientsRefused():
            # One recipient per message; smtplib names every refused one.
            code, text = next(iter(error.recipients.values()), (None, b""))
            action = _Action.GIVE_UP if about_us((code, text)) else _Action.ANSWER
            return _Failure(action, code, reply_text(text))
        case smtplib.SMTPDataError():
            return _Failure(_Action.ANSWER, error.smtp_code, reply_text(error.smtp_error))
        case smtplib.SMTPServerDisconnected() if "timed out" in str(error):
            # The server may have taken the message: sent again, it could arrive twice.
            return _Failure(_Action.DEFER, None, f"disconnected: {error}")
        case smtplib.SMTPServerDisconnected():
            return _Failure(_Action.RETRY, None, f"disconnected: {error}")
        case _:
            # The session broke in a way that says nothing of this message
            # (5xx to MAIL, a garbled reply, an unexpected error): the others,
            # or a later batch, take this connection's messages.
            code, text = _why(error)
            unexpected = not isinstance(error, OSError | smtplib.SMTPException)
            return _Failure(_Action.GIVE_UP, code, text, unexpected)


class _Channel:
    """One SMTP connection of the pool.

    Where the server offers PIPELINING (RFC 2920), a message's content and
    end-of-data go out in one write with the next message's MAIL, RCPT and
    DATA, when that message is ready, so a message costs one round trip. A
    connection dropped before a message's final reply sends that message
    again once, on a new connection; a timeout defers it instead, since the
    server may have accepted it.
    """

    def __init__(self, backend: SMTPBackend) -> None:
        self.backend = backend
        self.connection: smtplib.SMTP | None = None
        # The messages this channel took and has not answered, in order: the
        # one being sent, then the one riding along with it.
        self.held: deque[Item] = deque()
        self.announced = False  # held[0]'s envelope went out with the previous message

    def ensure_open(self) -> smtplib.SMTP:
        if self.connection is None:
            self.connection = self.backend.connect()
        return self.connection

    def close(self, *, abruptly: bool = False) -> None:
        """Say QUIT and close; ``abruptly`` just closes, for a session in an
        unknown state (QUIT inside DATA would only wait for a timeout)."""
        if self.connection is not None:
            if abruptly:
                self.connection.close()
            else:
                quietly_close(self.connection)
            self.connection = None
        self.announced = False

    def serve(self, batch: SharedBatch) -> None:
        """Send the batch's messages until none is left, answering each."""
        if self.held or self.announced:
            # A previous batch ended mid-transaction (an error escaped): its
            # session is in an unknown state, and its messages are not ours.
            self.close(abruptly=True)
            self.held.clear()
        tries = 0  # sends of the current message cut off by a dropped connection
        while (current := self._current(batch)) is not None:
            connection = None
            try:
                connection = self.ensure_open()
                if connection.has_extn("pipelining"):
                    result = self._pipelined(connection, current[1], batch)
                else:
                    result = _one_by_one(connection, current[1])
            except Exception as error:  # smtplib's AUTH also raises binascii.Error
                failure = _failure(error, connected=connection is not None)
                if failure.unexpected:
                    log.exception("an SMTP connection failed unexpectedly")
                if failure.action is _Action.GIVE_UP:
                    self._give_up(batch, failure)
                    return  # never a dead thread, which would leave the batch waiting
                if failure.action is not _Action.ANSWER:
                    self.close()
                    tries += 1
                    if failure.action is _Action.RETRY and tries < 2:
                        continue
                result = reply_result(failure.code, failure.text)
            batch.answer(self.held.popleft()[0], result)
            tries = 0

    def _pipelined(
        self, connection: smtplib.SMTP, message: OutgoingMessage, batch: SharedBatch
    ) -> SendResult:
        """One message's transaction with PIPELINING: its envelope (unless it
        went out with the previous message), the replies to MAIL, RCPT and
        DATA, its content with the next message's envelope riding along, and
        the final reply."""
        if not self.announced:
            connection.send(_envelope(message))
        self.announced = False
        mail, rcpt, data = connection.getreply(), connection.getreply(), connection.getreply()
        if mail[0] >= 500:
            raise _SenderRefused(*mail)
        if about_us(rcpt):
            raise _SenderRefused(*rcpt)
        if data[0] != 354:
            self._reset()
            return transaction_result(mail, rcpt, data)
        after = self._ride_along(batch)
        refused = mail[0] != 250 or rcpt[0] not in (250, 251)
        # A server that took DATA despite a refusal gets no content.
        payload = b".\r\n" if refused else _content(message.data)
        if after is not None:
            payload += _envelope(after)
        connection.send(payload)
        self.announced = after is not None
        final = connection.getreply()
        return transaction_result(mail, rcpt, final) if refused else reply_result(*final)

    def _current(self, batch: SharedBatch) -> Item | None:
        """The message to send now: the first held, else the batch's next."""
        if not self.held and (item := self._take(batch)) is not None:
            self.held.append(item)
        return self.held[0] if self.held else None

    def _ride_along(self, batch: SharedBatch) -> OutgoingMessage | None:
        """The message after the current one, if it is ready within a few
        milliseconds (composing one takes a fraction of that); a longer wait,
        at a rate limit, would hold the current DATA open."""
        if len(self.held) == 1 and (item := self._take(batch, _RIDE_ALONG)) is not None:
            self.held.append(item)
        return self.held[1][1] if len(self.held) > 1 else None

    @staticmethod
    def _take(batch: SharedBatch, patience: float | None = None) -> Item | None:
        """The batch's next message that fits an envelope; the others are
        answered at once."""
        while (item := batch.take(patience)) is not None and not _fits_envelope(item[1]):
            batch.answer(item[0], _UNUSABLE)
        return item

    def _reset(self) -> None:
        """End a refused transaction; a server that fails RSET is dialled again."""
        if self.connection is None:
            return
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def _give_up(self, batch: SharedBatch, failure: _Failure) -> None:
        self.close(abruptly=True)
        items = [*self.held]
        self.held.clear()
        self.backend.channel_down(failure.text)
        batch.retire(items, SendResult(Outcome.UNSENT, failure.code, failure.text))


# An address that would break the SMTP command it goes into.
_UNUSABLE = SendResult(Outcome.PERMANENT, 501, "5.1.3 address not usable in an SMTP envelope")


def _fits_envelope(message: OutgoingMessage) -> bool:
    return not any(
        ch in address for address in (message.envelope_from, message.recipient) for ch in "\r\n<>"
    ) and (message.recipient.isascii() and message.envelope_from.isascii())


def _greet(connection: smtplib.SMTP) -> None:
    """EHLO; a server that answers it with a refusal (421 too many
    connections, 554 not welcome) raises instead of being talked to anyway."""
    code, reply = connection.ehlo()
    if code != 250:
        raise smtplib.SMTPHeloError(code, reply)


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


def _why(error: BaseException) -> tuple[int | None, str]:
    """A failure's reply code, if it has one, and its words."""
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code, describe(error)
    return None, str(error) if isinstance(error, MailError) else describe(error)


def quietly_close(connection: smtplib.SMTP) -> None:
    """Say QUIT; just close a connection that cannot."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
