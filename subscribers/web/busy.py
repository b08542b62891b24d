"""Writes of the web app while the store is busy: tried again, within a budget.

On SQLite one process writes at a time. While an ingest, a send or an
import holds the write lock, a one-click unsubscribe used to wait the
connection's busy timeout (5 s) and fail with "database is locked", a 500:
the reader's unsubscribe was lost. On PostgreSQL a row lock held by another
transaction (an import updating the same subscriber) made it wait for as
long as that transaction lasted.

So each attempt waits on a lock for at most :data:`ATTEMPT_WAIT` (SQLite's
busy timeout, PostgreSQL's ``lock_timeout``, set on the connection for the
attempt), and an attempt the store turned away as busy (SQLite's
``SQLITE_BUSY`` and ``SQLITE_LOCKED``; PostgreSQL's lock timeout,
serialization failure and deadlock) is made again after a short pause,
growing from 20 to 250 ms, until the request's budget (``WEB_WRITE_WAIT``)
has passed: then :class:`StoreBusy`. A pooled connection the database
dropped (a restart) is tried again the same way: the pool has been renewed.
Each attempt is a whole transaction, so nothing of a failed one remains.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from worker.errors import DigestError, driver_words

log = logging.getLogger("subscribers.web")
T = TypeVar("T")

ATTEMPT_WAIT = 0.5  # seconds one attempt waits on a lock before it is made again
FIRST_PAUSE = 0.02
LONGEST_PAUSE = 0.25

_SQLITE_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)
# lock_not_available (lock_timeout), serialization_failure, deadlock_detected
_POSTGRES_BUSY = {"55P03", "40001", "40P01"}
# Set on a PostgreSQL connection once its lock_timeout is ours for good.
_LOCK_TIMEOUT_SET = "verdict_digest.lock_timeout"


class StoreBusy(DigestError):
    """The store stayed busy (locked by another writer) for the whole wait."""


def is_busy(error: DBAPIError) -> bool:
    """Whether ``error`` says the store is busy, so that the same
    transaction may well succeed a moment later."""
    code = getattr(error.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_BUSY
    return getattr(error.orig, "sqlstate", None) in _POSTGRES_BUSY


def retrying(attempt: Callable[[], T], *, wait: float, what: str) -> T:
    """``attempt()``, made again while the store is busy, for up to ``wait``
    seconds in all; ``what`` names the write in the log. Raises
    :class:`StoreBusy` when the time is up, and any other error at once."""
    deadline = time.monotonic() + wait
    pause = FIRST_PAUSE
    attempts = 0
    while True:
        attempts += 1
        try:
            return attempt()
        except DBAPIError as error:
            if not (is_busy(error) or error.connection_invalidated):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "store busy: write given up",
                    extra={"what": what, "attempt": attempts, "error": driver_words(error)},
                )
                raise StoreBusy(
                    f"the store stayed busy for {wait:g} s: {driver_words(error)}"
                ) from error
            if attempts == 1:
                shown = {"what": what, "error": driver_words(error)}
                log.info("store busy: trying again", extra=shown)
            time.sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_PAUSE)


def write(
    store: sessionmaker[Session], work: Callable[[Session], T], *, wait: float, what: str
) -> T:
    """``work(session)`` in one transaction, committed, made again while the
    store is busy (see :func:`retrying`)."""

    def attempt() -> T:
        with _engine(store).connect() as connection, lock_wait(connection):
            if not connection.in_transaction():
                connection.begin()  # the connection's, so that the session joins it
            with store(bind=connection) as session:
                result = work(session)
                session.flush()
            connection.commit()
            return result

    return retrying(attempt, wait=wait, what=what)


def write_now(engine: Engine, work: Callable[[Connection], T], *, wait: float, what: str) -> T:
    """``work(connection)`` on an autocommit connection (each statement its
    own transaction, one round trip), made again while the store is busy."""

    def attempt() -> T:
        autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with autocommit as connection, lock_wait(connection):
            return work(connection)

    return retrying(attempt, wait=wait, what=what)


@contextmanager
def lock_wait(connection: Connection) -> Iterator[None]:
    """Within: a statement on ``connection`` waits for a lock at most
    :data:`ATTEMPT_WAIT`. SQLite's busy timeout is put back afterwards (the
    connection goes back to a pool that reads with it); PostgreSQL's
    ``lock_timeout`` is set for the session on an autocommit connection, once,
    and for the transaction otherwise."""
    milliseconds = round(ATTEMPT_WAIT * 1000)
    if connection.dialect.name == "sqlite":
        before = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {milliseconds}")
        try:
            yield
        finally:
            if not connection.invalidated:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 0)}")
        return
    if not connection.info.get(_LOCK_TIMEOUT_SET):
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            connection.exec_driver_sql(f"SET lock_timeout = {milliseconds}")
            connection.info[_LOCK_TIMEOUT_SET] = True
        else:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
    yield


def _engine(store: sessionmaker[Session]) -> Engine:
    bound = store.kw["bind"]
    assert isinstance(bound, Engine)
    return bound
