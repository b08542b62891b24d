"""A probe of the store's write lock, from outside: a thread that makes one
tiny write after another, each in a transaction of its own, the way the
subscriber web app's unsubscribe updates a subscriber row, and keeps the
longest one took and any that failed ("database is locked")."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from sqlalchemy import insert, update
from sqlalchemy.exc import OperationalError

from worker.store import make_engine
from worker.store.models import Subscriber

PROBE_EMAIL = "write-probe@example.com"


class WriteProbe:
    """Use as a context manager: it has made one write when the block
    starts, and stops at its end. ``every`` paces the writes, so that the
    probe does not compete for the CPU with what it measures."""

    def __init__(self, database_url: str, every: float = 0.005) -> None:
        self.engine = make_engine(database_url)  # SQLite: the web app's busy timeout
        self.every = every
        self.longest = 0.0  # seconds
        self.writes = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="write-probe", daemon=True)
        with self.engine.begin() as connection:
            connection.execute(insert(Subscriber).values(email=PROBE_EMAIL, name="probe 0"))

    def __enter__(self) -> WriteProbe:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise TimeoutError("the write probe could not make its first write")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(Subscriber)
                        .where(Subscriber.email == PROBE_EMAIL)
                        .values(name=f"probe {self.writes}")
                    )
                self.writes += 1
            except OperationalError as error:
                self.failures.append(str(error.orig))
            self.longest = max(self.longest, time.perf_counter() - began)
            self._ready.set()
            self._stop.wait(self.every)
