"""The sample data (``sample/``) in a test's store: the content of the seed
page and its week, 2026-W48, and the eight sample subscribers."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvio import import_csv
from worker.config import PROJECT_ROOT, Settings
from worker.deliver.editions import BuildResult, build_edition
from worker.editor.sample import SAMPLE_WEEK
from worker.ingest.importer import import_file
from worker.render.renderer import Renderer

SAMPLE = PROJECT_ROOT / "sample"
W48 = SAMPLE_WEEK


def load_content(sessions: sessionmaker[Session]) -> None:
    """The sample content: tools, reviews and comparisons."""
    import_file(sessions, SAMPLE / "content.yaml")


def load_sample(sessions: sessionmaker[Session]) -> None:
    """The sample content and its eight confirmed subscribers."""
    load_content(sessions)
    import_csv(sessions, SAMPLE / "subscribers.csv")


def build_sample_week(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer | None = None
) -> BuildResult:
    """The sample loaded and week 48's edition built (not started)."""
    load_sample(sessions)
    return build_edition(sessions, W48, settings, renderer or Renderer(settings.templates_dir))
