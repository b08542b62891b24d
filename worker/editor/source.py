"""Where an editor's command reads its week from: the store at
``DATABASE_URL``, or the sample data in a scratch store (``--sample`` of
``digest preview``, ``lint`` and ``send --test``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.weeks import Week
from worker.editor.editionfile import load_edition_file
from worker.editor.preview import WeekSource, read_week
from worker.editor.sample import SampleStore
from worker.store import make_engine, session_factory


@contextlib.contextmanager
def week_source(
    settings: Settings, week: Week, *, sample: bool, edition_path: Path | None = None
) -> Iterator[WeekSource]:
    """``week`` as a preview, lint or test send needs it (:func:`read_week`),
    from the store, or with ``sample`` from the sample data loaded into a
    scratch store; shaped by the edition file at ``edition_path`` when
    given. On leaving, the store's connections are closed (the scratch
    store dropped)."""
    edition = load_edition_file(edition_path) if edition_path else None
    scratch = SampleStore(settings) if sample else None
    sessions: sessionmaker[Session] | None = None
    try:
        sessions = (
            scratch.load()
            if scratch
            else session_factory(make_engine(settings.database_url, create=False))
        )
        with sessions() as session:
            source = read_week(session, week, settings, edition)
        yield source
    finally:
        if scratch:
            scratch.close()
        elif sessions is not None:
            sessions.kw["bind"].dispose()
