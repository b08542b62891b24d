"""The SMTP pool's engine: one thread drives every connection with
non-blocking sockets (:mod:`selectors`), so that no message waits on a
hand-off between threads.

A batch is a stream of messages composed as they are taken. A connection
that is free takes the next one and writes its envelope; with PIPELINING
(RFC 2920) the content goes out, once the server said 354, in one write
with the next message's MAIL, RCPT and DATA, so a message costs one round
trip, and the replies of every connection are read as they come. A server
without PIPELINING gets one command at a time, on the same machine.

What a failure means (the one table, :meth:`Connection._fail` and its
callers):

* a refusal of the recipient, or of the message, answers that message and
  the connection goes on (after RSET when the transaction is left open);
* a dropped connection sends the message it was on again once, on a new
  connection, and every message that rode along with it; a second drop, or
  a reply that never comes within ``timeout``, answers it transient (the
  server may have taken it: sent again, it could arrive twice);
* a connection that cannot connect, greet or log in, whose sender or right
  to relay is refused (5xx to MAIL, a refusal at RCPT that is about us), or
  that breaks in a way that says nothing of SMTP, retires from the batch and
  hands its messages to the others; once none is left, the rest are
  answered :attr:`~worker.mail.base.Outcome.UNSENT`.
"""

from __future__ import annotations

import enum
import logging
import math
import selectors
import smtplib
import socket
import ssl
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from worker.errors import MailError
from worker.mail.base import Outcome, OutgoingMessage, SendResult
from worker.mail.smtpreplies import Reply, about_us, describe, reply_result, transaction_result

if TYPE_CHECKING:
    from worker.mail.smtp import SMTPBackend

log = logging.getLogger("worker.mail")

# How much one recv takes at most: several pipelined replies fit many times.
_READ = 65536
# Kernels take a few hundred buffers per sendmsg; a message is three.
_MAX_BUFFERS = 64


class _Action(enum.Enum):
    """What a connection does about a failure."""

    DROPPED = "send the message again once, on a new connection"
    TIMED_OUT = "answer the message transient: the server may have taken it"
    GIVE_UP = "retire from the batch and hand the messages back"


class _Failed(MailError):
    """A connection cannot go on: what to do about its messages, and why."""

    def __init__(self, action: _Action, code: int | None, text: str) -> None:
        super().__init__(text)
        self.action, self.code, self.text = action, code, text


@dataclass(eq=False)
class Held:
    """A message a connection took: its place in the batch, the replies it
    got so far, and how many times a dropped connection cut it off."""

    index: int
    message: OutgoingMessage
    tries: int = 0
    replies: list[Reply] = field(default_factory=list)
    final: bool = False  # its content went out: the next reply is the last
    refused: bool = False  # the server said 354 despite a refusal: no content was sent


# An address that would break the SMTP command it goes into.
_UNUSABLE = SendResult(Outcome.PERMANENT, 501, "5.1.3 address not usable in an SMTP envelope")


def fits_envelope(message: OutgoingMessage) -> bool:
    """Whether both addresses go into MAIL FROM and RCPT TO unchanged."""
    return not any(
        ch in address for address in (message.envelope_from, message.recipient) for ch in "\r\n<>"
    ) and (message.recipient.isascii() and message.envelope_from.isascii())


def envelope(message: OutgoingMessage) -> bytes:
    """MAIL, RCPT and DATA for ``message``, as one write."""
    return (
        f"MAIL FROM:<{message.envelope_from}>\r\nRCPT TO:<{message.recipient}>\r\nDATA\r\n"
    ).encode("ascii")


def content(message: OutgoingMessage) -> list[bytes]:
    """The message, dot-stuffed, and the end-of-data line, as buffers to
    write one after the other: no copy of a message that needs no stuffing,
    and no search of one whose composer says so (:attr:`OutgoingMessage.dot_free`).

    The content is already CRLF-terminated (worker.compose); only leading
    dots need doubling, which bytes.replace does far faster than smtplib's
    regular expressions.
    """
    data = message.data
    if not message.dot_free and (data.startswith(b".") or b"\r\n." in data):
        data = (b"." if data.startswith(b".") else b"") + data.replace(b"\r\n.", b"\r\n..")
    return [data, b".\r\n"] if data.endswith(b"\r\n") else [data, b"\r\n.\r\n"]


class Run:
    """One batch on its way out: where messages come from, and their answers.

    A message handed back by a connection that retired or dropped comes
    before the stream's next one, so that no message waits behind the rest
    of the batch.
    """

    def __init__(self, backend: SMTPBackend, messages: Iterator[OutgoingMessage]) -> None:
        self.backend = backend
        self._source = messages
        self._exhausted = False
        self._count = 0
        self.answers: dict[int, SendResult] = {}
        self.backlog: deque[Held] = deque()
        self.wake = math.inf  # when the rate limit lets the next message go
        self.down: SendResult | None = None  # why the last connection to retire did

    def take(self) -> Held | None:
        """The next message to send, or None: none is left, or the rate
        limit holds it back (until :attr:`wake`)."""
        if self.backlog:
            return self.backlog.popleft()
        limit = self.backend.rate_limit
        while not self._exhausted:
            if limit is not None and (delay := limit.take()) > 0:
                self.wake = time.monotonic() + delay
                return None
            message = next(self._source, None)
            if message is None:
                self._exhausted = True
                return None
            index, self._count = self._count, self._count + 1
            if fits_envelope(message):
                return Held(index, message)
            self.answers[index] = _UNUSABLE
        return None

    @property
    def drained(self) -> bool:
        """Every message was taken from the stream and none was handed back."""
        return self._exhausted and not self.backlog

    def answer(self, held: Held, result: SendResult) -> None:
        self.answers[held.index] = result

    def hand_back(self, held: list[Held]) -> None:
        """Messages a connection cannot send now, for the next free one."""
        self.backlog.extendleft(reversed(held))

    def answer_the_rest(self, why: SendResult) -> None:
        """No connection is left: what was not sent comes back unsent."""
        for held in self.backlog:
            self.answers[held.index] = why
        self.backlog.clear()
        for message in self._source:
            index, self._count = self._count, self._count + 1
            self.answers[index] = why if fits_envelope(message) else _UNUSABLE
        self._exhausted = True

    def results(self) -> list[SendResult]:
        return [self.answers[n] for n in range(self._count)]


class Connection:
    """One connection of the pool, kept across batches, opened when it
    first has a message to send and again after the server drops it."""

    def __init__(self, backend: SMTPBackend, selector: selectors.BaseSelector) -> None:
        self.backend = backend
        self.selector = selector
        self.smtp: smtplib.SMTP | None = None
        self.sock: socket.socket | None = None
        self.pipelining = False
        self.held: deque[Held] = deque()
        self._out: deque[memoryview] = deque()
        self._in = bytearray()
        self._lines: list[bytes] = []  # the lines of a multiline reply read so far
        self._rset = False  # a RSET's reply comes before anything else
        self._next_commands: deque[bytes] = deque()  # without PIPELINING: RCPT, then DATA
        self.deadline = math.inf
        self.retired = False  # gave up for the batch in hand

    @property
    def idle(self) -> bool:
        return not self.held and not self.retired

    @property
    def waiting(self) -> bool:
        """Whether it expects a reply or has bytes to write."""
        return bool(self.held or self._rset or self._out)

    def open(self) -> None:
        """Connect, greet, upgrade and log in (smtplib, blocking), then hand
        the socket to the pool. Raises what smtplib raises."""
        if self.smtp is not None:
            return
        self.smtp = self.backend.connect()
        self.pipelining = self.smtp.has_extn("pipelining")
        sock = self.smtp.sock
        assert sock is not None  # connect() returns a connected session
        sock.setblocking(False)
        # Pipelined commands are small writes that must not wait for the
        # previous message's ACK (Nagle's algorithm).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.selector.register(sock, selectors.EVENT_READ, self)

    def close(self, *, abruptly: bool = False) -> None:
        """Say QUIT (unless ``abruptly``: a session in an unknown state) and
        close. The messages held are the caller's to answer or hand back."""
        sock, self.sock = self.sock, None
        smtp, self.smtp = self.smtp, None
        self._out.clear()
        self._in.clear()
        self._lines.clear()
        self._next_commands.clear()
        self.deadline = math.inf
        if sock is None or smtp is None:
            return
        self.selector.unregister(sock)
        if not abruptly and not self._rset and not self.held:
            try:
                sock.settimeout(min(self.backend.timeout, 5.0))
                sock.sendall(b"QUIT\r\n")
                sock.recv(_READ)
            except OSError:
                pass
        self._rset = False
        smtp.close()

    # The messages' way out.

    def start(self, held: Held, run: Run) -> None:
        """Begin sending ``held`` (connecting first if needed)."""
        self.held.append(held)
        try:
            self.open()
        except Exception as error:  # smtplib's AUTH also raises binascii.Error
            code = error.smtp_code if isinstance(error, smtplib.SMTPResponseException) else None
            self.give_up(run, _Failed(_Action.GIVE_UP, code, _words(error)))
            return
        try:
            self._send_first(held)
        except _Failed as failure:
            self._fail(run, failure)

    def _send_first(self, held: Held) -> None:
        """Write ``held``'s envelope: all of it with PIPELINING, else MAIL."""
        if self.pipelining:
            self._write([envelope(held.message)])
        else:
            mail, rcpt, data = envelope(held.message).split(b"\r\n")[:3]
            self._next_commands.extend([rcpt + b"\r\n", data + b"\r\n"])
            self._write([mail + b"\r\n"])

    def on_ready(self, events: int, run: Run, now: float) -> None:
        """The socket can be written to or read from: go on."""
        try:
            if events & selectors.EVENT_WRITE:
                self._flush(now)
            if events & selectors.EVENT_READ:
                self._read(run, now)
        except _Failed as failure:
            self._fail(run, failure)
        except Exception as error:
            log.exception("an SMTP connection failed unexpectedly")
            self._fail(run, _Failed(_Action.GIVE_UP, None, describe(error)))

    def check_deadline(self, run: Run, now: float) -> None:
        """Give up waiting for a server that has said nothing for ``timeout``."""
        if self.waiting and now >= self.deadline:
            why = f"disconnected: timed out after {self.backend.timeout:g} s"
            self._fail(run, _Failed(_Action.TIMED_OUT, None, why))

    def _write(self, buffers: list[bytes]) -> None:
        self._out.extend(memoryview(b) for b in buffers)
        self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        """Write what the socket takes now; wait for it to take the rest."""
        sock = self.sock
        assert sock is not None
        out = self._out
        while out:
            try:
                if isinstance(sock, ssl.SSLSocket):
                    sent = sock.send(out[0])
                else:
                    sent = sock.sendmsg([out[i] for i in range(min(len(out), _MAX_BUFFERS))])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                break
            except OSError as error:
                raise _Failed(_Action.DROPPED, None, f"disconnected: {_words(error)}") from None
            while sent:
                if sent >= len(out[0]):
                    sent -= len(out.popleft())
                else:
                    out[0] = out[0][sent:]
                    sent = 0
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0)
        self.selector.modify(sock, events, self)
        self.deadline = now + self.backend.timeout if self.waiting else math.inf

    def _read(self, run: Run, now: float) -> None:
        sock = self.sock
        assert sock is not None
        while True:
            try:
                chunk = sock.recv(_READ)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except OSError as error:
                raise _Failed(_Action.DROPPED, None, f"disconnected: {_words(error)}") from None
            if not chunk:
                raise _Failed(_Action.DROPPED, None, "disconnected: closed by the server")
            self._in += chunk
            if len(chunk) < _READ and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                break
        self.deadline = now + self.backend.timeout if self.waiting else math.inf
        for reply in self._replies():
            self._on_reply(reply, run)
            if self.sock is None:  # the connection ended on this reply
                return

    def _replies(self) -> Iterator[Reply]:
        """The complete replies read, in order (a multiline reply as one,
        its lines joined with LF as smtplib does)."""
        buffer = self._in
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end]).rstrip(b"\r")
            start = end + 1
            code, more = line[:3], line[3:4]
            if not code.isdigit() or more not in (b" ", b"-", b""):
                del buffer[:start]
                raise _Failed(_Action.GIVE_UP, None, f"a garbled reply: {line[:80]!r}")
            self._lines.append(line[4:])
            if more == b"-":
                continue
            text = b"\n".join(self._lines)
            self._lines.clear()
            yield int(code), text
        del buffer[:start]

    def _on_reply(self, reply: Reply, run: Run) -> None:
        if self._rset:
            self._rset = False  # whatever it says: the transaction is over
            return
        if not self.held:  # a 421 before closing an idle connection, say
            raise _Failed(_Action.DROPPED, reply[0], "a reply nothing asked for")
        held = self.held[0]
        if held.final:
            result = (
                transaction_result(held.replies[0], held.replies[1], reply)
                if held.refused
                else reply_result(*reply)
            )
            self._answer(run, result)
            return
        held.replies.append(reply)
        code, text = reply
        step = len(held.replies)
        if step == 1 and code >= 500:
            raise _Failed(_Action.GIVE_UP, code, f"{code} {text.decode('utf-8', 'replace')}")
        if step == 2 and about_us(reply):
            raise _Failed(_Action.GIVE_UP, code, f"{code} {text.decode('utf-8', 'replace')}")
        if not self.pipelining and step < 3:
            if code not in ((250,) if step == 1 else (250, 251)):
                self._answer(run, reply_result(*reply))
                self._reset()
            else:
                self._write([self._next_commands.popleft()])
            return
        if step < 3:
            return
        mail, rcpt, data = held.replies
        if data[0] != 354:
            self._answer(run, transaction_result(mail, rcpt, data))
            self._reset()
            return
        held.final = True
        held.refused = mail[0] != 250 or rcpt[0] not in (250, 251)
        # A server that took DATA despite a refusal gets no content.
        buffers = [b".\r\n"] if held.refused else content(held.message)
        if self.pipelining and len(self.held) == 1 and (after := run.take()) is not None:
            self.held.append(after)
            buffers.append(envelope(after.message))
        self._write(buffers)

    def _answer(self, run: Run, result: SendResult) -> None:
        run.answer(self.held.popleft(), result)

    def _reset(self) -> None:
        """End a refused transaction."""
        self._next_commands.clear()
        self._rset = True
        self._write([b"RSET\r\n"])

    # Failures.

    def _fail(self, run: Run, failure: _Failed) -> None:
        if failure.action is _Action.GIVE_UP:
            self.give_up(run, failure)
            return
        held = self._let_go()
        if not held:
            return
        current = held.pop(0)
        current.tries += 1
        if failure.action is _Action.TIMED_OUT or current.tries >= 2:
            run.answer(current, reply_result(failure.code, failure.text))
        else:
            held.insert(0, current)
        run.hand_back(held)

    def _let_go(self) -> list[Held]:
        """Close abruptly; the messages held, to be sent from the start."""
        self.close(abruptly=True)
        held = [*self.held]
        self.held.clear()
        for h in held:
            h.replies.clear()
            h.final = h.refused = False
        return held

    def give_up(self, run: Run, failure: _Failed) -> None:
        """Retire from the batch: close, and hand the messages held back."""
        held = self._let_go()
        self.retired = True
        self.backend.channel_down(failure.text)
        run.hand_back(held)
        run.down = SendResult(Outcome.UNSENT, failure.code, failure.text)


def _words(error: BaseException) -> str:
    """A failure in one line; a MailError's own words."""
    return str(error) if isinstance(error, MailError) else describe(error)


def drive(connections: list[Connection], run: Run) -> None:
    """Send the run's messages over ``connections`` until each is answered."""
    for connection in connections:
        connection.retired = False
    selector = connections[0].selector
    while True:
        for connection in connections:
            while connection.idle and (held := run.take()) is not None:
                connection.start(held, run)
        if all(c.retired for c in connections):
            run.answer_the_rest(run.down or _NO_CONNECTION)
            return
        if run.drained and not any(c.held for c in connections):
            return
        busy = [c for c in connections if c.waiting]
        now = time.monotonic()
        if not busy:  # every connection is free, and the rate limit holds the next message
            time.sleep(min(max(0.0, run.wake - now), 1.0))
            run.wake = math.inf
            continue
        deadline = min(c.deadline for c in busy)
        until = min(deadline, run.wake)
        timeout = None if until == math.inf else max(0.0, until - now)
        for key, events in selector.select(timeout):
            connection = key.data
            if connection.sock is not None:
                connection.on_ready(events, run, time.monotonic())
        now = time.monotonic()
        if run.wake <= now:
            run.wake = math.inf
        for connection in busy:
            if connection.sock is not None:
                connection.check_deadline(run, now)


_NO_CONNECTION = SendResult(Outcome.UNSENT, None, "no connection could send it")
