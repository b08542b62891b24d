"""The subscriber app served over HTTP on loopback, and a watch on its log,
for tests that need a real server (requests from other threads, a request
that waits while the test does something)."""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def serving(app: Flask, port: int = 0) -> Iterator[str]:
    """``app`` on a loopback port (a free one unless given), each request
    in a thread of its own; yields its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Answer:
    status: int
    body: bytes


def post(url: str, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Answer:
    """POST ``body`` to ``url``, as a mailbox provider would: no cookie."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())


class LogWatch(logging.Handler):
    """The records of a logger as they come, and a wait for one of them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._arrived = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._arrived:
            self.records.append(record)
            self._arrived.notify_all()

    def wait_for(self, event: str, timeout: float = 30) -> logging.LogRecord:
        """The first record whose message is ``event``, waiting for it up to
        ``timeout`` seconds; fails the test if none comes."""

        def found() -> logging.LogRecord | None:
            return next((r for r in self.records if r.getMessage() == event), None)

        with self._arrived:
            if not self._arrived.wait_for(lambda: found() is not None, timeout):
                seen = [r.getMessage() for r in self.records]
                raise AssertionError(f"no {event!r} in the log within {timeout} s: {seen}")
            record = found()
        assert record is not None
        return record

    def events(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextmanager
def watching(name: str) -> Iterator[LogWatch]:
    """A :class:`LogWatch` on the logger ``name`` (DEBUG and up) while within."""
    logger = logging.getLogger(name)
    watch = LogWatch()
    level = logger.level
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)
