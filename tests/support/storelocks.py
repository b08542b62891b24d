"""Another process's lock on the store, held while a test makes a request."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from worker.store import make_engine


@contextmanager
def write_lock(engine: Engine, subscriber_id: int) -> Iterator[Callable[[], None]]:
    """Hold what a change of subscriber ``subscriber_id`` must wait for, as
    a long ingest or import would: on SQLite the database's write lock
    (``BEGIN IMMEDIATE`` on a connection of its own), on PostgreSQL the
    subscriber's row (``SELECT … FOR UPDATE`` from another engine). Yields
    a function that lets go early; leaving lets go in any case."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        lite = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
        lite.execute("BEGIN IMMEDIATE")

        def release() -> None:
            if lite.in_transaction:
                lite.execute("ROLLBACK")

        try:
            yield release
        finally:
            release()
            lite.close()
        return
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with other.connect() as connection:
            connection.execute(
                text("SELECT id FROM subscriber WHERE id = :id FOR UPDATE"), {"id": subscriber_id}
            )

            def let_go() -> None:
                if connection.in_transaction():
                    connection.rollback()

            yield let_go
            let_go()
    finally:
        other.dispose()
