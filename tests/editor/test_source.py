"""Where an editor's command reads its week from: the store, or the sample
data in a scratch store that is gone afterwards."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.segments import EVERYONE
from worker.editor.sample import SAMPLE_WEEK, load_sample
from worker.editor.source import week_source


def test_the_sample_is_read_from_a_scratch_store_dropped_afterwards(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scratch store's folder goes under tmp_path, where this test alone looks.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with week_source(settings, SAMPLE_WEEK, sample=True) as source:
        (scratch,) = tmp_path.iterdir()
        assert list(scratch.glob("*.sqlite3"))
        assert source.week == SAMPLE_WEEK
        assert source.segments[0] == EVERYONE and len(source.segments) == 6
        assert source.edition_id == 0  # nothing built in a scratch store
    assert list(tmp_path.iterdir()) == []


def test_the_store_is_read_when_there_is_no_sample(
    sessions: sessionmaker[Session], database_url: str, settings: Settings
) -> None:
    settings = dataclasses.replace(settings, database_url=database_url)
    with week_source(settings, SAMPLE_WEEK, sample=False) as source:
        assert source.week == SAMPLE_WEEK and source.digest.is_empty
        assert source.segments == (EVERYONE,)
    load_sample(sessions, settings)
    with week_source(settings, SAMPLE_WEEK, sample=False) as source:
        assert source.week == SAMPLE_WEEK and not source.digest.is_empty
        assert len(source.segments) == 6
