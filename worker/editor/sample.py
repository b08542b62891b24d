"""The sample data: content, feeds and subscribers an editor can try things on.

``sample/`` holds the seed page's tools, reviews and comparisons
(``content.yaml``), two feeds of launches (``feeds.toml`` and ``feeds/``) and
a few subscribers (``subscribers.csv``) and the week's edition file
(``editions/2026-W48.md``). :func:`load_sample` puts them into a store the
real way: the importer, the ingester over HTTP on loopback, the CSV
importer, the edition file's checks. ``digest demo`` uses it, and :class:`SampleStore` for the
``--sample`` of ``digest preview``, ``lint`` and ``send --test``.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvio import import_csv
from worker.config import PROJECT_ROOT, Settings
from worker.domain.editorial import EditorialFileError
from worker.domain.weeks import Week
from worker.editor.editionfile import file_week, read_file, save_edition_file
from worker.ingest.feeds import load_feeds_file
from worker.ingest.importer import ImportSummary, import_file
from worker.ingest.runner import IngestReport, ingest_feeds
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory, upgrade

SAMPLE = PROJECT_ROOT / "sample"
# The week the sample content and feeds are dated in.
SAMPLE_WEEK = Week(2026, 48)


@dataclass(frozen=True)
class SampleLoad:
    """What :func:`load_sample` put into the store."""

    content: ImportSummary
    feeds: IngestReport
    subscribers: int
    editions: tuple[str, ...] = ()  # the weeks given an edition file


def load_sample(
    sessions: sessionmaker[Session], settings: Settings, folder: Path = SAMPLE
) -> SampleLoad:
    """Import ``folder``'s content, ingest its feeds (served on loopback),
    import its subscribers, confirmed, and store its edition files
    (``editions/2026-W48.md``), into the store."""
    content = import_file(sessions, folder / "content.yaml", settings.timezone)
    with serve_folder(folder / "feeds") as base_url:
        feeds = [
            dataclasses.replace(spec, url=f"{base_url}/{spec.url.rsplit('/', 1)[-1]}")
            for spec in load_feeds_file(folder / "feeds.toml")
        ]
        # Its own loopback server may be fetched from, whatever FEED_ALLOW_PRIVATE says.
        own = (*settings.feed_allow_private, urlsplit(base_url).netloc)
        report = ingest_feeds(
            sessions, feeds, dataclasses.replace(settings, feed_allow_private=own)
        )
    people = import_csv(sessions, folder / "subscribers.csv")
    renderer = Renderer(settings.templates_dir)
    weeks = []
    for path in sorted((folder / "editions").glob("*.md")):
        week = file_week(path)
        if week is None:
            raise EditorialFileError(str(path), [f"{path}: name it by its week: 2026-W48.md"])
        save_edition_file(
            sessions,
            week,
            settings,
            read_file(path),
            source=str(path),
            by="sample",
            renderer=renderer,
        )
        weeks.append(str(week))
    return SampleLoad(content, report, people.added, tuple(weeks))


def sample_files(folder: Path = SAMPLE) -> list[Path]:
    """Every file :func:`load_sample` reads (what a preview watches)."""
    return sorted(path for path in folder.rglob("*") if path.is_file())


class SampleStore:
    """The sample data in a scratch SQLite store, reloaded from scratch (into
    a new file) when a sample file changes, so a deleted record goes too."""

    def __init__(self, settings: Settings, folder: Path = SAMPLE) -> None:
        self.settings = settings
        self.folder = folder
        self._directory = Path(tempfile.mkdtemp(prefix="digest-preview-"))
        self._loads = 0
        self._engine: Engine | None = None

    def load(self) -> sessionmaker[Session]:
        """A fresh store holding the sample data; the previous one is
        dropped. When the data does not load, the previous one is kept."""
        self._loads += 1
        path = self._directory / f"sample-{self._loads}.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
            sessions = session_factory(engine)
            load_sample(sessions, self.settings, self.folder)
        except BaseException:
            _drop(engine)
            raise
        if self._engine is not None:
            _drop(self._engine)
        self._engine = engine
        return sessions

    def close(self) -> None:
        """Drop the store and its folder."""
        if self._engine is not None:
            _drop(self._engine)
            self._engine = None
        shutil.rmtree(self._directory, ignore_errors=True)


def _drop(engine: Engine) -> None:
    path = engine.url.database
    engine.dispose()
    if path:
        # The store and what SQLite's WAL keeps beside it (worker.store).
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the output to what was done, not each request."""


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on an ephemeral loopback port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll: shutdown() waits for it, and a preview reloads the sample.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
