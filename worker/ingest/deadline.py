"""One fetch's time limit, kept whatever the server does.

A socket's timeout bounds each operation, not the whole: a server that sends
a byte a second never lets a read time out, and a buffered read asks again
for as long as bytes come. So a :class:`Deadline` also runs a watchdog,
which shuts down every connection it watches when the time is up: any
blocked read then returns at once, and :attr:`Deadline.expired` tells the
reader that what it got is cut short. Each blocking call still gets the time
left as its own timeout (:meth:`Deadline.left`), and a lookup that cannot be
interrupted (DNS) is waited for no longer than that.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """A time limit for one fetch, used from the thread that fetches (its
    watchdog runs in a thread of its own). Use it as a context manager."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self.expired = False
        self._watchdog = threading.Timer(seconds, self._expire)
        self._watchdog.daemon = True

    def __enter__(self) -> Deadline:
        self._watchdog.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._watchdog.cancel()

    def left(self) -> float:
        """The seconds left; TimeoutError when there are none."""
        left = self._at - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError
        return left

    @contextmanager
    def watching(self, connection: socket.socket) -> Iterator[None]:
        """Shut ``connection`` down if the time runs out within the block.

        The watchdog holds a duplicate of the socket: a TLS socket wrapped
        around ``connection`` later shares its descriptor's connection, and
        shutting the duplicate down ends reads on both."""
        duplicate = connection.dup()
        with self._lock:
            self._watched.append(duplicate)
            if self.expired:
                _shut(duplicate)
        try:
            yield
        finally:
            with self._lock:
                self._watched.remove(duplicate)
            duplicate.close()

    def call(self, function: Callable[[], T], name: str) -> T:
        """``function()`` in a thread of its own, waited for no longer than
        the time left (TimeoutError after it): for a call that takes no
        timeout, such as a DNS lookup. A call that overruns is left to end
        by itself."""
        outcome: list[T] = []
        failure: list[Exception] = []

        def run() -> None:
            try:
                outcome.append(function())
            except Exception as error:  # handed to the caller's thread
                failure.append(error)

        worker = threading.Thread(target=run, name=name, daemon=True)
        worker.start()
        worker.join(self.left())
        if worker.is_alive():
            raise TimeoutError
        if failure:
            raise failure[0]
        return outcome[0]

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for connection in self._watched:
                _shut(connection)


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other end
        connection.shutdown(socket.SHUT_RDWR)
