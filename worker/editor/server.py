"""``digest preview``: the preview page served on 127.0.0.1, kept live.

A watcher thread looks at the email templates (and, with ``--sample``, the
sample data) every 100 ms and reads the week from the store every 500 ms;
any change bumps a version number. Pages wait on ``/api/changes`` (a long
poll) and fetch ``/api/preview`` again when the version moves. A preview is
composed on demand, once per version and segment. SpamAssassin, which takes
about a second, runs on a thread of its own; its verdict bumps the version
when it arrives.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from worker.config import Settings
from worker.domain.segments import parse_segment
from worker.domain.weeks import Week
from worker.editor.lint.rules import Finding
from worker.editor.lint.spamcheck import spam_check_findings, spam_findings, spamassassin_path
from worker.editor.page import PageRenderer, error_payload, preview_payload
from worker.editor.preview import Preview, WeekSource, compose_preview, message_findings, read_week
from worker.editor.sample import SampleStore, sample_files
from worker.errors import DigestError
from worker.now import process_now
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory

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
    ) -> None:
        self.settings = settings
        self.week = week
        self.default_segment = segment
        self.clock = clock
        # The message's Date (and its links' issue time) moves only when the
        # content does: SpamAssassin's late verdict leaves the frames as they are.
        self._composed_at = clock()
        self._sample = sample
        self._engine = None if sample else make_engine(settings.database_url)
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
            with self._sessions() as session:
                source = read_week(session, self.week, self.settings)
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


def create_app(live: LivePreview, pages: PageRenderer) -> Flask:
    """The preview's pages: ``/`` (the page), ``/api/preview`` and
    ``/api/changes`` (its data and the long poll), and the message itself:
    ``/message.html`` (the HTML part, byte for byte), ``/message-dark.html``,
    ``/message.txt`` and ``/message.eml``."""
    app = Flask(__name__)

    @app.before_request
    def local_only() -> None:
        # Bound to 127.0.0.1, and answering only to its own name: a web page
        # elsewhere cannot reach it through DNS rebinding.
        host = (request.host or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            abort(400)

    def segment() -> str:
        asked = request.args.get("segment")
        return live.default_segment if asked is None else parse_segment(asked)

    @app.get("/")
    def page() -> Response:
        html = pages.render(live.payload(segment()), live=True)
        return Response(html, mimetype="text/html", headers=_NO_STORE)

    @app.get("/api/preview")
    def data() -> Response:
        response = jsonify(live.payload(segment()))
        response.headers.update(_NO_STORE)
        return response

    @app.get("/api/changes")
    def changes() -> Response:
        since = request.args.get("since", type=int, default=-1)
        return jsonify(version=live.wait_for_change(since))

    def part(name: str, mimetype: str) -> Response:
        payload, preview = live.built(segment())
        if preview is None:
            return Response(f"{payload['error']}\n", status=404, mimetype="text/plain")
        body = preview.raw if name == "raw" else payload[name].encode("utf-8")
        return Response(body, mimetype=mimetype, headers=_MESSAGE)

    app.add_url_rule("/message.html", "html", lambda: part("html", "text/html"))
    app.add_url_rule("/message-dark.html", "dark", lambda: part("dark_html", "text/html"))
    app.add_url_rule("/message.txt", "text", lambda: part("text", "text/plain"))
    app.add_url_rule("/message.eml", "eml", lambda: part("raw", "message/rfc822"))
    return app


_NO_STORE = {"Cache-Control": "no-store"}
# The message opened on its own runs no script and reaches nothing of the
# preview's origin, as in the page's sandboxed frames.
_MESSAGE = {**_NO_STORE, "Content-Security-Policy": "sandbox allow-popups"}


class _QuietRequests(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No line per request: the page's long poll would log one every 25 s."""


class PreviewServer:
    """The preview app on 127.0.0.1 with its watcher, in threads: start,
    read :attr:`url`, stop."""

    def __init__(self, live: LivePreview, pages: PageRenderer, port: int = 0) -> None:
        self.live = live
        try:
            listener = socket.create_server(("127.0.0.1", port))
        except OSError as error:
            # Not str(error): create_server appends the address to it.
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise DigestError(f"preview: cannot listen on 127.0.0.1:{port}: {reason}") from None
        with listener:  # the server listens on its own copy
            self._server: BaseWSGIServer = make_server(
                "127.0.0.1",
                listener.getsockname()[1],
                create_app(live, pages),
                threaded=True,
                request_handler=_QuietRequests,
                fd=listener.fileno(),
            )
        self._server.daemon_threads = True
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=live.watch, args=(self._stop,), name="preview-watch", daemon=True
            ),
            threading.Thread(target=self._server.serve_forever, name="preview-http", daemon=True),
        ]

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self._server.port}/"

    def start(self) -> None:
        """Serve and watch, each on a thread of its own."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop serving and watching, and close the preview."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.live.close()


def snapshot(live: LivePreview, segment: str) -> tuple[dict[str, Any], Preview | None]:
    """The page's data for ``segment`` with SpamAssassin's verdict in it
    (waited for), for a copy that will not reload."""
    payload, preview = live.built(segment)
    while payload.get("spam") == "pending":
        live.wait_for_change(payload["version"])
        payload, preview = live.built(segment)
    return payload, preview


@contextmanager
def serving(live: LivePreview, pages: PageRenderer, port: int = 0) -> Iterator[PreviewServer]:
    """A started :class:`PreviewServer`, stopped on the way out."""
    server = PreviewServer(live, pages, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
