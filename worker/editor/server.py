"""``digest preview``: the preview page served on 127.0.0.1, kept live.

Pages wait on ``/api/changes`` (a long poll) and fetch ``/api/preview``
again when the version of the :class:`~worker.editor.live.LivePreview`
moves; the message itself is served part by part, sandboxed.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, Response, abort, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from worker.domain.segments import parse_segment
from worker.editor.live import LivePreview
from worker.editor.page import PageRenderer
from worker.errors import DigestError

#: Makes the report page of the previewed week's edition; raises DigestError
#: when there is none to make (the edition has not gone out).
ReportMaker = Callable[[], str]


def create_app(live: LivePreview, pages: PageRenderer, report: ReportMaker | None = None) -> Flask:
    """The preview's pages: ``/`` (the page), ``/api/preview`` and
    ``/api/changes`` (its data and the long poll), and the message itself:
    ``/message.html`` (the HTML part, byte for byte), ``/message-dark.html``,
    ``/message.txt`` and ``/message.eml``; with ``report``, ``/report.html``:
    what the edition did, once it has gone out (``digest report``)."""
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
        html = pages.render(live.payload(segment()), live=True, report=report is not None)
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

    @app.get("/report.html")
    def report_page() -> Response:
        if report is None:
            return Response(
                "no report: the preview shows sample data\n", 404, mimetype="text/plain"
            )
        try:
            html = report()
        except DigestError as error:
            return Response(f"{error}\n", status=404, mimetype="text/plain")
        return Response(html, mimetype="text/html", headers=_REPORT)

    app.add_url_rule("/message.html", "html", lambda: part("html", "text/html"))
    app.add_url_rule("/message-dark.html", "dark", lambda: part("dark_html", "text/html"))
    app.add_url_rule("/message.txt", "text", lambda: part("text", "text/plain"))
    app.add_url_rule("/message.eml", "eml", lambda: part("raw", "message/rfc822"))
    return app


_NO_STORE = {"Cache-Control": "no-store"}
# The message opened on its own runs no script and reaches nothing of the
# preview's origin, as in the page's sandboxed frames.
_MESSAGE = {**_NO_STORE, "Content-Security-Policy": "sandbox allow-popups"}
# The report runs no script and loads nothing: its charts are inline SVG.
_REPORT = {**_NO_STORE, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


class _QuietRequests(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No line per request: the page's long poll would log one every 25 s."""


class PreviewServer:
    """The preview app on 127.0.0.1 with its watcher, in threads: start,
    read :attr:`url`, stop."""

    def __init__(
        self,
        live: LivePreview,
        pages: PageRenderer,
        port: int = 0,
        report: ReportMaker | None = None,
    ) -> None:
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
                create_app(live, pages, report),
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


@contextmanager
def serving(
    live: LivePreview, pages: PageRenderer, port: int = 0, report: ReportMaker | None = None
) -> Iterator[PreviewServer]:
    """A started :class:`PreviewServer`, stopped on the way out."""
    server = PreviewServer(live, pages, port, report)
    server.start()
    try:
        yield server
    finally:
        server.stop()
