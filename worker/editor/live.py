"""The live preview: one week's source and renderer kept current, each
change numbered, previews composed on demand.

A watcher thread looks at the email templates (and, with ``--sample``, the
sample data; with ``--edition``, the edition file being written) every
100 ms and reads the week from the store every 500 ms; any change bumps a
version number, which pages wait on (a long poll) to fetch the preview
again. A preview is composed on demand, once per version
and segment. SpamAssassin, which takes about a second, runs on a thread of
its own; its verdict bumps the version when it arrives.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from worker.config import Settings
from worker.domain.weeks import Week
from worker.editor.editionfile import load_edition_file
from worker.editor.lint.rules import Finding
from worker.editor.lint.spamcheck import spam_check_findings, spam_findings, spamassassin_path
from worker.editor.page import error_payload, preview_payload
from worker.editor.preview import (
    Preview,
    WeekSource,
    compose_preview,
    message_findings,
    read_week,
)
from worker.editor.sample import SampleStore, sample_files
from worker.errors import DigestError
from worker.now import process_now
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory

# The stage's logger name, kept as operators search for it (docs/observability.md).
log = logging.getLogger("worker.preview")

FILE_POLL = 0.1  # seconds between looks at the template and sample files
STORE_POLL = 0.5  # seconds between reads of the week from the store
LONG_POLL = 25.0  # seconds a page waits on /api/changes before asking again


class LivePreview:
    """Keeps one week's source and renderer current, numbers each change,
    and composes the previews pages ask for."""

    def __init__(
        self,
        settings: Settings,
        week: Week,
        *,
        sample: SampleStore | None = None,
        clock: Callable[[], dt.datetime] = process_now,
        segment: str = "",
        spam: bool = True,
        edition_path: Path | None = None,
    ) -> None:
        self.settings = settings
        # An edition file being written: it shapes the week in place of the
        # stored one, and is read again when saved.
        self.edition_path = edition_path
        self.week = week
        self.default_segment = segment
        self.clock = clock
        # The message's Date (and its links' issue time) moves only when the
        # content does: SpamAssassin's late verdict leaves the frames as they are.
        self._composed_at = clock()
        self._sample = sample
        self._engine = None if sample else make_engine(settings.database_url, create=False)
        self._sessions = sample.load() if sample else session_factory(self._engine)
        # A sample that no longer loads: shown until a save loads again.
        self._sample_error: str | None = None
        self._renderer = Renderer(settings.templates_dir)
        self._version = 0
        self._changed = threading.Condition()
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[int, int]] = self._stat_files()
        self._source: WeekSource | None = None
        self._error: str | None = None
        self._read_store()
        self._built: dict[tuple[int, str], tuple[dict[str, Any], Preview | None]] = {}
        self._spam_path = spamassassin_path() if spam else None
        self._spam: dict[str, list[Finding] | None] = {}  # None while running
        # The checks the current content asked for: a queued one of content
        # since changed is skipped, so a burst of saves costs one check.
        self._spam_wanted: set[str] = set()
        self._spam_pool = ThreadPoolExecutor(1, thread_name_prefix="spamassassin")

    @property
    def version(self) -> int:
        """The number of the last change seen."""
        return self._version

    # The watcher.

    def watch(self, stop: threading.Event) -> None:
        """Look for changes until ``stop`` is set."""
        next_read = time.monotonic() + STORE_POLL
        while not stop.wait(FILE_POLL):
            read = False
            try:
                changed = self._look_at_files()
                if changed or time.monotonic() >= next_read:
                    changed = self._read_store() or changed
                    next_read = time.monotonic() + STORE_POLL
                    read = True
            except Exception as error:  # the watcher must outlive one bad look
                changed = self._set(None, f"the preview failed: {error!r}")
                if changed:  # once per new failure, not at every look
                    log.exception("preview watcher failed")
            if changed:
                self._bump(content=True)
            if read:  # after the bump: the version logged is this look's
                log.debug("preview read the store", extra={"version": self._version})

    def _watched(self) -> list[Path]:
        email = self.settings.templates_dir / "email"
        files = sorted(path for path in email.rglob("*") if path.is_file())
        if self._sample is not None:
            files += sample_files(self._sample.folder)
        if self.edition_path is not None:
            files.append(self.edition_path)
        return files

    def _stat_files(self) -> dict[Path, tuple[int, int]]:
        found = {}
        for path in self._watched():
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # removed between the listing and the look
            found[path] = (info.st_mtime_ns, info.st_size)
        return found

    def _look_at_files(self) -> bool:
        files = self._stat_files()
        if files == self._files:
            return False
        changed = {
            p for p in files.keys() | self._files.keys() if files.get(p) != self._files.get(p)
        }
        if self._sample is not None and any(p.is_relative_to(self._sample.folder) for p in changed):
            try:
                self._sessions = self._sample.load()
                self._sample_error = None
            except Exception as error:  # an editor's file can break anything: show it
                self._files = files  # shown until the next save, not retried at every look
                self._sample_error = f"sample data: {error}"
                log.warning("sample data not loaded: %s", error, extra={"error": str(error)})
                return True
        # A new environment: Jinja2 would see most edits itself, but not
        # all (a macro file imported by a cached template).
        self._renderer = Renderer(self.settings.templates_dir)
        # Only now: a look that failed above is made again.
        self._files = files
        return True

    def _read_store(self) -> bool:
        try:
            edition = load_edition_file(self.edition_path) if self.edition_path else None
            with self._sessions() as session:
                source = read_week(session, self.week, self.settings, edition)
        except SQLAlchemyError as error:
            words = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            return self._set(None, f"the store cannot be read: {words}")
        except DigestError as error:
            return self._set(None, str(error))
        return self._set(source, None)

    def _set(self, source: WeekSource | None, error: str | None) -> bool:
        if source == self._source and error == self._error:
            return False
        self._source, self._error = source, error
        return True

    def _bump(self, *, content: bool) -> None:
        with self._changed:
            if content:
                self._composed_at = self.clock()
                self._spam_wanted = set()
            self._version += 1
            self._changed.notify_all()

    def wait_for_change(self, since: int, timeout: float = LONG_POLL) -> int:
        """The version once it differs from ``since``, or after ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != since, timeout)
            return self._version

    # The previews.

    def payload(self, segment: str) -> dict[str, Any]:
        """The page's data for ``segment`` at the current version."""
        return self.built(segment)[0]

    def built(self, segment: str) -> tuple[dict[str, Any], Preview | None]:
        """The page's data for ``segment`` and the preview it shows (None
        when there is nothing to show), composed once per version."""
        with self._lock:
            version = self._version
            found = self._built.get((version, segment))
            if found is None:
                found = self._compose(segment, version)
                # Keep this version's only: an older one is never asked again.
                self._built = {
                    key: value for key, value in self._built.items() if key[0] == version
                } | {(version, segment): found}
            return found

    def _compose(self, segment: str, version: int) -> tuple[dict[str, Any], Preview | None]:
        source = self._source
        segments = source.segments if source else ("",)
        week = str(self.week)
        error = self._sample_error or self._error
        if source is None or error:
            return error_payload(error or "", week, segment, segments, version=version), None
        started = time.perf_counter()
        try:
            preview = compose_preview(
                source, segment, self._renderer, self.settings, now=self._composed_at
            )
            spam, state = self._spam_state(preview)
            findings = message_findings(source, preview, self.settings, spam)
        except DigestError as error:
            return error_payload(str(error), week, segment, segments, version=version), None
        except Exception as error:  # shown on the page, not a 500 it cannot explain
            log.exception("preview failed")
            failed = f"the preview failed: {error!r}"
            return error_payload(failed, week, segment, segments, version=version), None
        payload = preview_payload(
            preview,
            segments,
            findings,
            version=version,
            spam=state,
            built_at=self.clock(),
            build_ms=(time.perf_counter() - started) * 1000,
        )
        return payload, preview

    def _spam_state(self, preview: Preview) -> tuple[list[Finding], str]:
        """SpamAssassin's findings and where its check is: absent (not
        installed), pending (started, on its own thread) or done."""
        if self._spam_path is None:
            return spam_findings(None), "absent"
        parts = preview.parts
        key = hashlib.sha256("\x00".join((parts.subject, parts.html, parts.text)).encode())
        digest = key.hexdigest()
        self._spam_wanted.add(digest)
        if digest not in self._spam:
            self._spam[digest] = None
            self._spam_pool.submit(self._check_spam, digest, preview.raw)
        found = self._spam[digest]
        return ([], "pending") if found is None else (found, "done")

    def _check_spam(self, key: str, raw: bytes) -> None:
        with self._lock:  # as built() asks for checks: none is dropped once asked again
            if key not in self._spam_wanted:
                del self._spam[key]  # content since changed; asked again if it comes back
                return
        found = spam_check_findings(raw)
        with self._lock:
            self._spam[key] = found
        self._bump(content=False)

    def close(self) -> None:
        """Stop the checks and let go of the store."""
        self._spam_pool.shutdown(wait=False, cancel_futures=True)
        if self._sample is not None:
            self._sample.close()
        if self._engine is not None:
            self._engine.dispose()


def snapshot(live: LivePreview, segment: str) -> tuple[dict[str, Any], Preview | None]:
    """The page's data for ``segment`` with SpamAssassin's verdict in it
    (waited for), for a copy that will not reload."""
    payload, preview = live.built(segment)
    while payload.get("spam") == "pending":
        live.wait_for_change(payload["version"])
        payload, preview = live.built(segment)
    return payload, preview
