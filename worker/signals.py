"""Stopping on SIGTERM (a platform's restart, systemd) and SIGINT (Ctrl-C).

Every long-running command (``clock``, ``worker``, ``web``, ``preview``,
and ``send`` and ``tick`` while they send) stops the same way:
:func:`stopping_on_signals` installs the handlers and gives a :class:`Stop`,
the event they set, which the main thread waits on.

Why a wakeup fd. Python runs a signal's handler in the main thread, between
bytecodes, but the kernel hands a process's signal to whichever of its
threads takes it first: a server's, a pool's, a scheduler's. A main thread
blocked in ``Event.wait()`` is not woken when another thread takes it, so the
handler waits as long as the wait does (for ever, untimed). Here the main
thread waits in ``poll`` on one end of a socket pair whose other end is
:func:`signal.set_wakeup_fd`: the C-level handler writes to it in whichever
thread it runs, after flagging the Python handler to run (CPython orders it
so, bpo-30038), so the main thread wakes for every signal, runs the handler
at its next bytecode and sees the stop. Nothing is lost between looking at
the event and waiting: the byte stays in the socket until read. That makes
it deterministic, which the other ways are not: waiting in short slices
delays a stop by up to a slice, and ``sigwait`` on a blocked mask needs the
signals blocked in every thread before it starts, libraries' threads
included, and handles nothing while the main thread works.
"""

from __future__ import annotations

import contextlib
import math
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

OnSignal = Callable[[signal.Signals, bool], None]


class Stop(threading.Event):
    """The event a stop signal sets (any thread may set it too). While
    :func:`stopping_on_signals` holds, :meth:`wait` in the main thread wakes
    for a signal wherever the kernel delivered it; elsewhere it is
    ``Event.wait``."""

    def __init__(self) -> None:
        super().__init__()
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None

    def set(self) -> None:
        """Set the event and wake the main thread's :meth:`wait`."""
        super().set()
        writer = self._writer
        if writer is not None:
            # Full, it wakes the wait anyway; closed, nobody waits any more.
            with contextlib.suppress(OSError):
                writer.send(b"\0")

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False when ``timeout`` seconds passed first."""
        reader = self._reader
        if reader is None or threading.current_thread() is not threading.main_thread():
            return super().wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()  # not select(): a busy worker's fds may pass 1024
        poller.register(reader, select.POLLIN)
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if poller.poll(None if left is None else math.ceil(left * 1000)):
                _drain(reader)
            # The loop's jump back runs a pending handler before the event is read.
        return True

    def _attach(self, reader: socket.socket, writer: socket.socket) -> None:
        self._reader, self._writer = reader, writer

    def _detach(self) -> None:
        self._reader = self._writer = None


def _drain(reader: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while reader.recv(512):
            pass


@contextmanager
def stopping_on_signals(
    on_signal: OnSignal | None = None, stop: Stop | None = None
) -> Iterator[Stop]:
    """A :class:`Stop` (``stop``, or a new one) that SIGTERM and SIGINT set
    while the block runs; each signal then calls ``on_signal(signal,
    again)``, ``again`` telling whether the stop was set already. The
    previous handlers afterwards. In the main thread only, as any handler."""
    stop = Stop() if stop is None else stop

    def handle(signum: int, _frame: object) -> None:
        again = stop.is_set()
        stop.set()
        if on_signal is not None:
            on_signal(signal.Signals(signum), again)

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    stop._attach(reader, writer)
    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        signal.set_wakeup_fd(previous_fd)
        stop._detach()
        reader.close()
        writer.close()
