"""The welcome copy as an editor changes it (``digest welcome edit`` and
``import``): checked whole, then stored for the list, replacing the one
before; a copy with any problem stores nothing. What is in use is read by
:mod:`worker.deliver.welcome_copy`, which mails it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from worker.config import Settings
from worker.deliver.welcome_copy import STORED_SOURCE, WELCOME, CurrentWelcome
from worker.domain.editorial import read_welcome_copy
from worker.now import process_now
from worker.store import upsert
from worker.store.models import EditorCopy


def store_welcome(
    session: Session, settings: Settings, text: str, by: str, source: str = "welcome copy"
) -> CurrentWelcome:
    """``text`` checked as the welcome copy and stored as the list's, as
    written; raises EditorialFileError naming every bad line of ``source``
    (and stores nothing)."""
    copy = read_welcome_copy(text, source)
    now = process_now()
    session.execute(
        upsert(session, EditorCopy)
        .values(list_id=settings.list_id, name=WELCOME, source=text, updated_at=now, updated_by=by)
        .on_conflict_do_update(
            index_elements=["list_id", "name"],
            set_={"source": text, "updated_at": now, "updated_by": by},
        )
    )
    return CurrentWelcome(copy, STORED_SOURCE, now, by)
