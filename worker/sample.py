"""The sample data: content, feeds and subscribers an editor can try things on.

``sample/`` holds the seed page's tools, reviews and comparisons
(``content.yaml``), two feeds of launches (``feeds.toml`` and ``feeds/``) and
a few subscribers (``subscribers.csv``). :func:`load_sample` puts them into a
store the real way: the importer, the ingester over HTTP on loopback, the
CSV importer. ``digest demo`` and ``digest preview --sample`` use it.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvio import import_csv
from worker.config import PROJECT_ROOT, Settings
from worker.feeds import load_feeds_file
from worker.importer import ImportSummary, import_file
from worker.ingest import IngestReport, ingest_feeds
from worker.weeks import Week

SAMPLE = PROJECT_ROOT / "sample"
# The week the sample content and feeds are dated in.
SAMPLE_WEEK = Week(2026, 48)


@dataclass(frozen=True)
class SampleLoad:
    content: ImportSummary
    feeds: IngestReport
    subscribers: int


def load_sample(
    sessions: sessionmaker[Session], settings: Settings, folder: Path = SAMPLE
) -> SampleLoad:
    """Import ``folder``'s content, ingest its feeds (served on loopback) and
    import its subscribers, confirmed, into the store."""
    content = import_file(sessions, folder / "content.yaml", settings.timezone)
    with serve_folder(folder / "feeds") as base_url:
        feeds = [
            dataclasses.replace(spec, url=f"{base_url}/{spec.url.rsplit('/', 1)[-1]}")
            for spec in load_feeds_file(folder / "feeds.toml")
        ]
        report = ingest_feeds(sessions, feeds, settings)
    people = import_csv(sessions, folder / "subscribers.csv")
    return SampleLoad(content, report, people.added)


def sample_files(folder: Path = SAMPLE) -> list[Path]:
    """Every file :func:`load_sample` reads (what a preview watches)."""
    return sorted(path for path in folder.rglob("*") if path.is_file())


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the output to what was done, not each request."""


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on an ephemeral loopback port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
