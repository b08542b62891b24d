"""``digest demo``: the whole weekly job on the embedded default.

A fresh SQLite store in the demo directory, the sample content imported, the
sample feeds served on loopback and ingested over HTTP (the real path), the
sample subscribers, the week's edition built and sent to a file outbox, and
a preview of it as HTML and text, composed as ``digest preview`` composes it:
for the placeholder reader (subscriber 0), so that the files, which are made
to be shown around, carry nobody's working unsubscribe or vote links.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings, load_settings
from worker.deliver.editions import build_edition
from worker.deliver.runner import send_edition
from worker.domain.segments import EVERYONE
from worker.domain.weeks import Week
from worker.domain.words import plural
from worker.editor.preview import compose_preview, read_week
from worker.editor.sample import load_sample
from worker.errors import DigestError
from worker.mail import backend_from_url
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory, upgrade


@dataclass(frozen=True)
class DemoResult:
    outbox: Path
    messages: int
    preview_html: Path
    preview_text: Path


def run_demo(directory: Path, week: Week, console: Console) -> DemoResult:
    """Run the demo in ``directory`` (emptied first) and say what happened."""
    directory = directory.resolve()
    if directory.exists():
        shutil.rmtree(directory)
    outbox = directory / "outbox"
    outbox.mkdir(parents=True)
    settings = load_settings(
        database_url=f"sqlite:///{directory / 'digest.sqlite3'}",
        mail_url=f"file://{outbox}",
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    console.print(f"store: fresh SQLite at {directory / 'digest.sqlite3'}")

    loaded = load_sample(sessions, settings)
    content = loaded.content
    console.print(
        f"import: {plural(content.tools_added, 'tool')}, {plural(content.reviews, 'review')}, "
        f"{plural(content.comparisons_added, 'comparison')} from sample/content.yaml"
    )
    for feed in loaded.feeds.feeds:
        console.print(f"ingest: {feed.url}: {feed.status}, {feed.new} new launches")
    console.print(f"subscribers: {loaded.subscribers} confirmed from sample/subscribers.csv")
    for named in loaded.editions:
        console.print(f"edition file: {named} from sample/editions/{named}.md")

    built = build_edition(sessions, week, settings, Renderer(settings.templates_dir))
    if built.status == "skipped":
        raise DigestError(f"{week}: the sample data has nothing that week; try --week 2026-W48")
    console.print(
        f"build: {week} \u201c{built.subject}\u201d, {plural(len(built.segments), 'segment')}"
    )

    sent, _ = send_edition(sessions, week, settings, backend_from_url(settings.mail_url))
    console.print(f"send: {sent.sent} sent, {sent.failed} failed")

    files = sorted(outbox.glob("*.eml"))
    if not files:
        raise DigestError("the demo sent no message")
    html_path, text_path = _write_preview(sessions, week, settings, directory)
    engine.dispose()
    return DemoResult(outbox, len(files), html_path, text_path)


def _write_preview(
    sessions: sessionmaker[Session], week: Week, settings: Settings, directory: Path
) -> tuple[Path, Path]:
    """The HTML and text parts of the week's edition, every category's, as
    the placeholder reader gets them."""
    with sessions() as session:
        source = read_week(session, week, settings)
    preview = compose_preview(source, EVERYONE, Renderer(settings.templates_dir), settings)
    html_path = directory / "preview.html"
    text_path = directory / "preview.txt"
    html_path.write_text(preview.html, encoding="utf-8")
    text_path.write_text(preview.text, encoding="utf-8")
    return html_path, text_path
