"""The sample data (worker/editor/sample.py) behind a live preview: an edit
shows, and a file that does not load is shown until a save loads, each
load in a scratch store of its own that nothing leaves behind."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.preview import FILES_API_TAGLINE, edit, wait_for, wait_for_store_reads, watching
from worker.config import Settings
from worker.editor.live import LivePreview
from worker.editor.sample import SAMPLE, SAMPLE_WEEK, SampleStore


def save(path: Path, text: str) -> None:
    """Write ``path`` whole, as an editor saving by rename does: the watcher
    never sees it half written."""
    staged = path.parent.parent / f".{path.name}.saving"
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)


def test_a_sample_data_change_shows(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    live = LivePreview(settings, SAMPLE_WEEK, sample=SampleStore(settings, folder), spam=False)
    with watching(live):
        assert FILES_API_TAGLINE in live.payload("")["html"]
        edit(folder / "content.yaml", FILES_API_TAGLINE, "Upload once (edited sample)")
        after = wait_for(live, "", lambda p: "Upload once (edited sample)" in (p.get("html") or ""))
        assert FILES_API_TAGLINE not in after["html"]


def test_sample_data_that_does_not_load_shows_until_a_save_loads(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="worker.preview")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where SampleStore keeps its stores
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    content = folder / "content.yaml"
    good = content.read_text(encoding="utf-8")
    live = LivePreview(settings, SAMPLE_WEEK, sample=SampleStore(settings, folder), spam=False)
    (stores,) = scratch.iterdir()
    with watching(live):
        assert live.payload("")["error"] is None
        save(content, "tools: [unclosed\n  - slug: : :\n")
        broken = wait_for(live, "", lambda p: bool(p["error"]))
        assert broken["error"].startswith(f"sample data: {content}: 1 problem:"), broken["error"]
        assert "line 2" in broken["error"] and "html" not in broken
        # The store is read again every STORE_POLL (from the last good
        # load): those reads leave the error, and the version, as they are.
        wait_for_store_reads(caplog, 3)
        still = live.payload("")
        assert (still["version"], still["error"]) == (broken["version"], broken["error"])
        # The failed load dropped its file; the first one is still the store.
        assert {p.name.partition(".")[0] for p in stores.iterdir()} == {"sample-1"}

        save(content, good.replace(FILES_API_TAGLINE, "Upload once (fixed sample)"))
        fixed = wait_for(live, "", lambda p: p["error"] is None)
        assert "Upload once (fixed sample)" in fixed["html"]
        assert fixed["version"] > broken["version"]
        # Only the live store is left (with the -wal and -shm files of its WAL).
        assert {p.name.partition(".")[0] for p in stores.iterdir()} == {"sample-3"}
    assert list(scratch.iterdir()) == []  # closed: no scratch store left behind
