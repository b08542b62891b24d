"""DKIM signing off the sending thread: the private-key operations run in
processes of their own, a little ahead of the sender, which takes the
signed messages in order.

The RSA operation (about 250 µs) and the body hash (about 65 µs for the
demo's 70 KB) are most of a signature's cost. In threads they would run
beside the sender, but each time a signing thread held Python's GIL the
sender would wait for it after every socket call; a process has its own
interpreter. A signing process is sent each segment's fixed body pieces
once, then per message its signed header fields and the reader's lines of
its body, a few kilobytes, and answers the DKIM-Signature lines
(docs/delivery.md, "DKIM"). No thread of ours is involved: the sender
writes requests and reads answers itself, when it needs them.

A signing process runs :mod:`worker.compose.signature`, which imports
nothing of ours, so it holds the keys and little else.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from worker.compose import signature
from worker.compose.template import MessageTemplate, Unsigned
from worker.errors import DigestError
from worker.mail.base import OutgoingMessage

# Messages a signing process takes at once: fewer hand-offs, and still few
# enough that the first ones go out at once.
_CHUNK = 16
# Chunks out at once per process: enough that one is always ready.
_AHEAD_PER_PROCESS = 3


class SigningProcessError(DigestError):
    """A signing process exited or answered nonsense: the batch in hand is
    not sent, and its leases run out, so nobody loses a message."""


def default_processes() -> int:
    """Signing processes: the cores but one (the sender's), at least one, at most four."""
    return min(4, max(1, (os.cpu_count() or 1) - 1))


class _Signer:
    """One signing process and the two ends of its pipes."""

    def __init__(self, keys: list[tuple[Path, str, str]]) -> None:
        requests_in, requests_out = os.pipe()
        answers_in, answers_out = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                signature.__name__,
                str(requests_in),
                str(answers_out),
                *(str(part) for key in keys for part in key),
            ],
            pass_fds=(requests_in, answers_out),
            stdin=subprocess.DEVNULL,
        )
        os.close(requests_in)
        os.close(answers_out)
        self.requests = Connection(requests_out, readable=False)
        self.answers = Connection(answers_in, writable=False)
        # Connection.poll builds a selector per call: one poll object instead.
        self._answered = select.poll()
        self._answered.register(answers_in, select.POLLIN)
        self.templates: set[bytes] = set()  # the segments whose body pieces it has

    def answered(self) -> bool:
        """An answer (or the pipe's end) is waiting to be read."""
        return bool(self._answered.poll(0))

    def close(self) -> None:
        self.requests.close()  # the process ends when its requests do
        self.answers.close()
        self.process.wait()


@dataclass
class _Chunk:
    items: list[Unsigned]
    signer: _Signer
    signatures: list[list[bytes]] | None = None
    taken: int = 0  # messages handed over so far

    @property
    def ready(self) -> bool:
        """Its signatures are here, or waiting in the pipe."""
        return self.signatures is not None or self.signer.answered()

    def next_message(self) -> OutgoingMessage:
        """Its next message, signed (waiting for the signatures if need be)."""
        if self.signatures is None:
            try:
                self.signatures = signature.unpack(self.signer.answers.recv_bytes())
            except (EOFError, OSError, ValueError) as error:
                raise SigningProcessError(f"a DKIM signing process failed: {error!r}") from None
            if len(self.signatures) != len(self.items):
                raise SigningProcessError("a DKIM signing process answered the wrong chunk")
        unsigned = self.items[self.taken]
        (lines,) = self.signatures[self.taken]
        self.taken += 1
        return unsigned.with_signatures(lines)

    @property
    def done(self) -> bool:
        return self.taken == len(self.items)


class SigningPool:
    """Processes that sign messages ahead of a sender, started when first
    needed. Close it when done."""

    def __init__(self, keys: list[tuple[Path, str, str]], processes: int | None = None) -> None:
        self.keys = keys  # per key: its file, domain (d=) and selector (s=)
        self.processes = processes or default_processes()
        self._signers: list[_Signer] = []
        self._turn = 0
        self._ids: dict[int, bytes] = {}  # id(template) to the id signing processes know

    def _next_signer(self) -> _Signer:
        if not self._signers:
            self._signers = [_Signer(self.keys) for _ in range(self.processes)]
        self._turn = (self._turn + 1) % len(self._signers)
        return self._signers[self._turn]

    def _template_id(self, template: MessageTemplate) -> bytes:
        # Templates live as long as their worker: id() stays theirs.
        return self._ids.setdefault(id(template), str(len(self._ids)).encode())

    def _send(self, signer: _Signer, chunk: list[Unsigned]) -> None:
        """Send a chunk's requests, after the body pieces of any segment the
        process has not been sent yet."""
        frames = []
        entries = []
        for unsigned in chunk:
            template = unsigned.template
            tid = self._template_id(template)
            if tid not in signer.templates:
                signer.templates.add(tid)
                frames.append(signature.pack([[signature.TEMPLATE, tid], template.fixed_body]))
            timestamp = str(int(unsigned.now.timestamp())).encode()
            entries.append([tid, timestamp, template.signed_fields(unsigned), *unsigned.fills])
        frames.append(signature.pack(entries))
        try:
            for frame in frames:
                signer.requests.send_bytes(frame)
        except OSError as error:
            raise SigningProcessError(f"a DKIM signing process failed: {error!r}") from None

    def signed(self, composed: Iterable[Unsigned]) -> Iterator[OutgoingMessage]:
        """The messages of ``composed``, signed, in their order.

        One message is composed for each one handed over, so the sender is
        never held up by a burst of composing; the signing processes work on
        the chunks in between."""
        source = iter(composed)
        window: deque[_Chunk] = deque()
        chunk: list[Unsigned] = []
        ahead = 0  # messages composed and not yet handed over
        most = _CHUNK * (self.processes * _AHEAD_PER_PROCESS + 1)
        exhausted = False

        def submit() -> None:
            nonlocal chunk
            signer = self._next_signer()
            self._send(signer, chunk)
            window.append(_Chunk(chunk, signer))
            chunk = []

        try:
            while True:
                ready = bool(window) and window[0].ready
                if ready:
                    yield window[0].next_message()
                    ahead -= 1
                    if window[0].done:
                        window.popleft()
                if not exhausted and ahead < most:
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                        continue
                    chunk.append(item)
                    ahead += 1
                    if len(chunk) == _CHUNK:
                        submit()
                    continue
                if ready:
                    continue
                if chunk and (exhausted or not window):
                    submit()
                if not window:
                    return
                yield window[0].next_message()  # waits: there is nothing else to do
                ahead -= 1
                if window[0].done:
                    window.popleft()
        finally:
            if window:
                # Left early (an error, or a sender that stopped taking):
                # answers still on their way would be read as the next
                # batch's. Fresh processes start for the next one.
                self.close()

    def close(self) -> None:
        for signer in self._signers:
            signer.close()
        self._signers = []
