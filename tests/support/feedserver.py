"""A real HTTP(S) server on loopback that serves feeds the way the web does:
ETag and Last-Modified with 304s, redirects, errors, stalls, trickles and
huge bodies.

Routes (path → behaviour) are set per test; files come from ``root``. Feeds
are fetched from public addresses only: :func:`allowing` gives settings that
let the worker fetch from these loopback servers (``FEED_ALLOW_PRIVATE``).
"""

from __future__ import annotations

import dataclasses
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from worker.config import Settings


@dataclass
class Route:
    status: int = 200
    file: str | None = None  # a file under the server's root
    body: bytes | None = None
    location: str | None = None  # for redirects
    stall: float = 0.0  # seconds to wait before answering
    hold: threading.Event | None = None  # answers once the test sets it
    stream_bytes: int = 0  # a generated body of this size, sent in chunks
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None  # sent instead of the body's hash (still matched on 304s)
    # A 200 answer of ``body`` sent a byte (a chunk of one byte, chunked)
    # every ``trickle`` seconds; the status line and headers too with
    # ``trickle_head``. Framed by Content-Length, chunked, or (neither) by
    # the end of the connection.
    trickle: float = 0.0
    trickle_head: bool = False
    framing: str = "length"  # length, chunked or close


@dataclass
class FeedServer:
    root: Path
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base_url: str = ""

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def headers_of(self, path: str) -> list[dict[str, str]]:
        return [headers for seen, headers in self.requests if seen == path]

    @property
    def address(self) -> str:
        """Host and port, as a ``FEED_ALLOW_PRIVATE`` entry allowing this server."""
        return urlsplit(self.base_url).netloc


def allowing(settings: Settings, *places: FeedServer | str) -> Settings:
    """``settings`` that also let feeds be fetched from ``places``: servers
    (their host and port) or ``FEED_ALLOW_PRIVATE`` entries."""
    entries = tuple(p.address if isinstance(p, FeedServer) else p for p in places)
    return dataclasses.replace(
        settings, feed_allow_private=(*settings.feed_allow_private, *entries)
    )


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read ``server.requests`` instead."""

        def do_GET(self) -> None:
            server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = server.routes.get(self.path)
            if route is None:
                route = Route(file=self.path.lstrip("/"))
            if route.stall:
                time.sleep(route.stall)
            if route.hold is not None:
                route.hold.wait(timeout=60)  # a failed test must not keep a thread forever
            if route.location:
                self.send_response(route.status)
                self.send_header("Location", route.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.stream_bytes:
                self._stream(route)
                return
            if route.trickle:
                self._trickle(route)
                return
            body = route.body
            if route.file is not None:
                path = server.root / route.file
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
            body = body or b""
            etag = route.etag or f'"{sha256(body).hexdigest()[:16]}"'
            modified = formatdate(1_795_000_000, usegmt=True)
            # If-None-Match wins over If-Modified-Since (RFC 9110, 13.2.2).
            match = self.headers.get("If-None-Match")
            fresh = match == etag if match else self.headers.get("If-Modified-Since") == modified
            if route.status == 200 and fresh:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body)))
            if route.status == 200:
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, route: Route) -> None:
            self.send_response(200)
            self.send_header("Content-Type", route.content_type)
            self.end_headers()  # no Content-Length: the client must count
            chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"
            sent = 0
            try:
                self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
                while sent < route.stream_bytes:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should

        def _trickle(self, route: Route) -> None:
            body = route.body or b""
            head = [b"HTTP/1.1 200 OK", f"Content-Type: {route.content_type}".encode()]
            if route.framing == "length":
                head.append(f"Content-Length: {len(body)}".encode())
            pieces = [body[i : i + 1] for i in range(len(body))]
            if route.framing == "chunked":
                head.append(b"Transfer-Encoding: chunked")
                pieces = [b"1\r\n" + piece + b"\r\n" for piece in pieces] + [b"0\r\n\r\n"]
            whole_head = b"\r\n".join(head) + b"\r\n\r\n"
            if route.trickle_head:
                pieces = [whole_head[i : i + 1] for i in range(len(whole_head))] + pieces
            else:
                pieces = [whole_head, *pieces]
            try:
                for piece in pieces:
                    self.wfile.write(piece)
                    time.sleep(route.trickle)
            except OSError:  # the client gave up (a broken pipe, a TLS EOF), as it should
                pass
            self.close_connection = True

    return Handler


@contextmanager
def serve_feeds(root: Path, tls: ssl.SSLContext | None = None) -> Iterator[FeedServer]:
    """Serve ``root`` on an ephemeral 127.0.0.1 port until the block ends;
    over TLS as ``https://localhost:PORT`` with ``tls`` (a server context)."""
    state = FeedServer(root=root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    if tls is None:
        state.base_url = f"http://127.0.0.1:{port}"
    else:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
        state.base_url = f"https://localhost:{port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
