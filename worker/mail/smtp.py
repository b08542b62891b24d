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
import re
import smtplib
import ssl
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import SplitResult, parse_qs, unquote

from worker.config import redact_url
from worker.domain.suppression import SuppressionReason
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
        batch = _Batch(2 * self.connections, len(self.channels))
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


Item = tuple[int, OutgoingMessage]
# How often a waiting channel looks for handed-back messages and the end.
_POLL = 0.01
_RIDE_ALONG = 0.005


class _Batch:
    """What the channels sending one batch share: the composed messages,
    their answers, and the channels still able to send.

    A channel that cannot connect, log in or get its sender accepted
    retires from the batch and hands its messages to the others; when the
    last one retires, what is left is answered :attr:`Outcome.UNSENT`. A
    channel looks for more work until every message is answered, since a
    peer may still hand some back.
    """

    def __init__(self, size: int, channels: int) -> None:
        self.queue: queue.Queue[Item] = queue.Queue(size)
        self.composed = threading.Event()  # every message has been offered
        self.answers: dict[int, SendResult] = {}
        self._lock = threading.Lock()
        self._handed_back: deque[Item] = deque()
        self._alive = channels
        self._taken = 0  # messages a channel holds, not yet answered or handed back
        self._down: SendResult | None = None  # why the last channel retired

    def offer(self, item: Item) -> None:
        """Queue a composed message, or answer it at once if no channel is left."""
        while self._down is None:
            try:
                self.queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        self.answers[item[0]] = self._down

    def take(self, patience: float | None = None) -> Item | None:
        """The next message. None when none is left, or, with ``patience``
        (seconds), when none came in that time."""
        while True:
            item = self._next(patience)
            if item is not None:
                with self._lock:
                    self._taken += 1
                return item
            if patience is not None:
                return None
            with self._lock:
                if (
                    self.composed.is_set()
                    and self.queue.empty()
                    and not self._handed_back
                    and not self._taken
                ):
                    return None

    def _next(self, patience: float | None) -> Item | None:
        if self._handed_back:
            with self._lock:
                if self._handed_back:
                    return self._handed_back.popleft()
        try:
            return self.queue.get(timeout=_POLL if patience is None else patience)
        except queue.Empty:
            return None

    def answer(self, index: int, result: SendResult) -> None:
        """Answer a message a channel took."""
        with self._lock:
            self.answers[index] = result
            self._taken -= 1

    def retire(self, items: list[Item], why: SendResult) -> None:
        """A channel gives up for this batch, handing back ``items`` unsent."""
        with self._lock:
            self._alive -= 1
            self._taken -= len(items)
            self._handed_back.extend(items)
            if self._alive:
                return
            self._down = why
        self.answer_the_rest()

    def answer_the_rest(self) -> None:
        """Answer what no channel took (every channel retired) as unsent."""
        why = self._down or SendResult(Outcome.UNSENT, None, "no connection could send it")
        with self._lock:
            left = [*self._handed_back]
            self._handed_back.clear()
        while True:
            try:
                left.append(self.queue.get_nowait())
            except queue.Empty:
                break
        for index, _ in left:
            self.answers.setdefault(index, why)


class _SenderRefused(Exception):
    """The server refused our envelope sender outright (5xx to MAIL FROM):
    no recipient of the batch can be sent through it."""

    def __init__(self, code: int, text: bytes | str) -> None:
        super().__init__(f"{code} {_text(text)}")
        self.code = code


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

    def serve(self, batch: _Batch) -> None:
        """Send the batch's messages until none is left, answering each."""
        backlog: deque[Item] = deque()

        def following(patience: float | None = None) -> Item | None:
            while True:
                item = backlog.popleft() if backlog else batch.take(patience)
                if item is None or _fits_envelope(item[1]):
                    return item
                batch.answer(item[0], _UNUSABLE)

        current = following()
        tries = 0
        announced = False  # current's envelope went out with the previous message
        while current is not None:
            index, message = current
            after: Item | None = None
            try:
                connection = self.ensure_open()
            except Exception as error:  # smtplib's AUTH also raises binascii.Error
                # Cannot connect, greet or log in: not this message's fault.
                self._give_up(batch, current, None, backlog, *_why(error))
                return
            try:
                if not connection.has_extn("pipelining"):
                    batch.answer(index, _one_by_one(connection, message))
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
                if mail[0] >= 500:
                    raise _SenderRefused(*mail)
                if _about_us(rcpt):
                    raise _SenderRefused(*rcpt)
                if data[0] != 354:
                    batch.answer(index, _refusal(mail, rcpt, data))
                    current, tries = following(), 0
                    self._reset()
                    continue
                # The next message rides along if it is ready within a few
                # milliseconds (composing one takes a fraction of that); a
                # longer wait, at a rate limit, would hold this DATA open.
                after = following(patience=_RIDE_ALONG)
                refused = mail[0] != 250 or rcpt[0] not in (250, 251)
                # A server that took DATA despite a refusal gets no content.
                payload = b".\r\n" if refused else _content(message.data)
                if after is not None:
                    payload += _envelope(after[1])
                connection.send(payload)
                announced = after is not None
                final = connection.getreply()
                batch.answer(index, _refusal(mail, rcpt, final) if refused else _result(*final))
                current, tries = after or following(), 0
            except _SenderRefused as error:
                self._give_up(batch, current, after, backlog, error.code, str(error))
                return
            except smtplib.SMTPSenderRefused as error:
                if error.smtp_code < 500:  # 4xx: this message, later
                    batch.answer(index, _result(error.smtp_code, error.smtp_error))
                    current, tries = following(), 0
                    continue
                self._give_up(batch, current, after, backlog, error.smtp_code, _describe(error))
                return
            except smtplib.SMTPServerDisconnected as error:
                self.close()
                announced = False
                if after is not None:
                    backlog.appendleft(after)
                tries += 1
                if tries == 2 or "timed out" in str(error):
                    batch.answer(
                        index, SendResult(Outcome.TRANSIENT, None, f"disconnected: {error}")
                    )
                    current, tries = following(), 0
            except smtplib.SMTPRecipientsRefused as error:
                code, text = error.recipients.get(message.recipient, (None, b""))
                if code is not None and _about_us((code, text)):
                    self._give_up(batch, current, after, backlog, code, _text(text))
                    return
                batch.answer(index, _result(code, text))
                current, tries = following(), 0
            except smtplib.SMTPDataError as error:
                batch.answer(index, _result(error.smtp_code, error.smtp_error))
                current, tries = following(), 0
            except Exception as error:
                # The session broke in a way that says nothing of this
                # message (a garbled reply, an unexpected error): this
                # connection is done for the batch; the others, or a later
                # batch, take its messages. Never a dead thread, which
                # would leave the batch waiting on it.
                if not isinstance(error, OSError | smtplib.SMTPException):
                    log.exception("an SMTP connection failed unexpectedly")
                self._give_up(batch, current, after, backlog, *_why(error))
                return

    def _give_up(
        self,
        batch: _Batch,
        current: Item,
        after: Item | None,
        backlog: deque[Item],
        code: int | None,
        text: str,
    ) -> None:
        self.close(abruptly=True)
        items = [current, *([after] if after is not None else []), *backlog]
        self.backend.channel_down(text)
        batch.retire(items, SendResult(Outcome.UNSENT, code, text))


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


def _refusal(
    mail: tuple[int, bytes], rcpt: tuple[int, bytes], last: tuple[int, bytes]
) -> SendResult:
    """The answer to a transaction: the first refusal in it, else its last reply."""
    if mail[0] != 250:
        return _result(*mail)
    if rcpt[0] not in (250, 251):
        return _result(*rcpt)
    return _result(*last)


# The recipient's address is dead: X.1.1 no such mailbox, X.1.2 no such
# domain, X.1.3 a malformed address, X.1.6 moved, X.1.10 a null MX.
_UNKNOWN_USER = re.compile(r"\b5\.1\.(1|2|3|6|10)\b")
# Refusals at RCPT that are about us, not the recipient: Postfix delays its
# sender and relay checks to RCPT by default. X.1.7 and X.1.8 name the
# sender's address; the rest are Postfix's and Exim's own words.
_ABOUT_US = re.compile(
    r"\b5\.1\.[78]\b|relay access denied|sender address rejected|authentication required",
    re.IGNORECASE,
)


def _about_us(reply: tuple[int, bytes | str]) -> bool:
    return reply[0] >= 500 and bool(_ABOUT_US.search(_text(reply[1])))


def _result(code: int | None, text: bytes | str) -> SendResult:
    reply = _text(text)
    if code is not None and 200 <= code < 300:
        return SendResult.accepted(code, reply)
    if code is not None and code >= 500:
        dead = SuppressionReason.UNKNOWN_USER if _UNKNOWN_USER.search(reply) else None
        return SendResult(Outcome.PERMANENT, code, reply, suppress=dead)
    return SendResult(Outcome.TRANSIENT, code, reply)


def _why(error: BaseException) -> tuple[int | None, str]:
    """A failure's reply code, if it has one, and its words."""
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code, _describe(error)
    return None, str(error) if isinstance(error, MailError) else _describe(error)


def _text(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _quietly_close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
