"""Locks between processes sharing one store: the clock's, and each job's.

On PostgreSQL a lock is a session-level advisory lock
(``pg_try_advisory_lock``) held on a connection of its own: it ends with
that connection, so a clock killed with SIGKILL frees its lock as soon as
the server notices the connection is gone. Keys are a constant namespace and
a hash of the schema and the lock's name: two deployments in two schemas of
one database do not block each other.

On SQLite it is an exclusive ``flock`` on a file beside the database file
(``digest.sqlite3.clock.lock``), which the kernel frees when the process
ends. An in-memory database has one process: nothing to lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text

# "vdig": the first half of every advisory lock key of this project.
NAMESPACE = 0x76646967


class StoreLock:
    """An exclusive lock named ``name`` on ``engine``'s store; not reentrant."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._connection: Connection | None = None
        self._descriptor: int | None = None
        self._key = 0
        # The clock asks alive() from its jobs' threads; a connection is
        # not to be used by two threads at once.
        self._using = threading.Lock()

    def acquire(self) -> bool:
        """Take the lock if it is free; False (at once) if someone holds it."""
        if self.engine.dialect.name == "postgresql":
            return self._acquire_advisory()
        path = lock_file(self.engine, self.name)
        if path is None:
            return True
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def _acquire_advisory(self) -> bool:
        connection = self.engine.connect()
        try:
            schema = connection.scalar(text("SELECT current_schema()")) or ""
            self._key = zlib.crc32(f"{schema}:{self.name}".encode()) & 0x7FFFFFFF
            taken = connection.scalar(text("SELECT pg_try_advisory_lock(:ns, :key)"), self._ids)
            # Nothing of this connection's own transaction may stay open
            # for the lock's life (it would hold back VACUUM).
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    @property
    def _ids(self) -> dict[str, int]:
        return {"ns": NAMESPACE, "key": self._key}

    def alive(self) -> bool:
        """True while the lock is still held: on PostgreSQL, while its
        connection answers (a server restart ends the session and the lock)."""
        with self._using:
            if self._connection is None:
                return self._descriptor is not None or lock_file(self.engine, self.name) is None
            try:
                self._connection.scalar(text("SELECT 1"))
                self._connection.commit()
            except Exception:
                return False
            return True

    def release(self) -> None:
        """Give the lock back (nothing happens if it is not held)."""
        with self._using:
            connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), self._ids)
                connection.commit()
                connection.close()
            except Exception:
                # A broken connection must not go back to the pool holding
                # the lock: dropping it ends the session, and the lock.
                connection.invalidate()
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            os.close(descriptor)


@contextlib.contextmanager
def try_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Hold lock ``name`` for the block if it is free; yields whether it is
    held (False: another process has it, and the block should do nothing)."""
    lock = StoreLock(engine, name)
    held = lock.acquire()
    try:
        yield held
    finally:
        if held:
            lock.release()


def lock_file(engine: Engine, name: str) -> Path | None:
    """The SQLite lock file of ``name``: beside the database file."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).resolve()
    return path.with_name(f"{path.name}.{name}.lock")
