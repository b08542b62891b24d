"""Clicks on an edition's links: counted per edition and item, never per
reader (the redirect's token names no one; :mod:`worker.domain.clicks`).

A click is one statement: an upsert into ``click_count`` whose row comes
from the edition, found by list and week. Only an edition that has started
sending counts: before that its links are seen only in a preview or a test
send, which are not readers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Insert, bindparam, literal, select
from sqlalchemy.orm import Session

from worker.store import upsert
from worker.store.models import ClickCount, Edition, UTCDateTime


def count_click(
    store: Session | Connection, list_id: str, week: str, item: str, now: dt.datetime
) -> bool:
    """Count one click on ``item`` of ``week``'s edition of ``list_id`` at
    ``now``; True if it was counted, False when that edition has not
    started sending (or does not exist). One statement: the redirect runs
    it on an autocommit connection, in one round trip."""
    # Core execution, also in a session's transaction: the ORM would take an
    # INSERT … SELECT … ON CONFLICT for a bulk insert of objects.
    connection = store.connection() if isinstance(store, Session) else store
    statement = _STATEMENTS.get(connection.dialect.name)
    if statement is None:
        statement = _STATEMENTS[connection.dialect.name] = _upsert(connection)
    values = {"list_id": list_id, "week": week, "item": item, "now": now}
    return bool(connection.execute(statement, values).rowcount)


# Built once per dialect: the redirect runs it at every click.
_STATEMENTS: dict[str, Insert] = {}


def _upsert(store: Connection) -> Insert:
    now = bindparam("now", type_=UTCDateTime())
    started = select(Edition.id, bindparam("item"), literal(1), now, now).where(
        Edition.list_id == bindparam("list_id"),
        Edition.week == bindparam("week"),
        Edition.started_at.is_not(None),
    )
    insert = upsert(store, ClickCount).from_select(
        ["edition_id", "item", "clicks", "first_at", "last_at"], started
    )
    return insert.on_conflict_do_update(
        index_elements=["edition_id", "item"],
        set_={"clicks": ClickCount.clicks + 1, "last_at": insert.excluded.last_at},
    ).execution_options(preserve_rowcount=True)
