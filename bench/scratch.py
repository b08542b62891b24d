"""What the benchmarks share: a scratch store that is gone afterwards (a
SQLite file, or a PostgreSQL schema of its own), a list of subscribers put
into it in bulk, and a free port on loopback.

PostgreSQL is ``BENCH_DATABASE_URL``, by default the local server's ``test``
database on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from worker.store import make_engine
from worker.store.models import Subscriber

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def store(kind: str) -> Iterator[str]:
    """The URL of an empty store of ``kind`` ("sqlite" or "postgresql"),
    dropped on the way out."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-")
        try:
            yield f"sqlite:///{folder}/bench.sqlite3"
        finally:
            shutil.rmtree(folder)
        return
    schema = f"bench_{os.getpid()}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def add_subscribers(
    sessions: sessionmaker[Session], count: int, segments: Sequence[str] = ("",)
) -> None:
    """``count`` confirmed subscribers, ``reader0000000@example.com`` on,
    their category choices taken from ``segments`` in turn."""
    chunk = 50_000
    for start in range(0, count, chunk):
        with sessions.begin() as session:
            session.execute(
                insert(Subscriber),
                [
                    {
                        "email": f"reader{n:07d}@example.com",
                        "name": f"Reader {n}",
                        "status": "confirmed",
                        "categories": segments[n % len(segments)],
                    }
                    for n in range(start, min(start + chunk, count))
                ],
            )
