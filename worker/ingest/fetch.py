"""Fetching one feed over HTTP(S), within limits a hostile server cannot
stretch.

A fetch is a conditional GET with the feed's ETag and Last-Modified. It
follows up to five redirects by hand and reports where the feed has moved
for good: only when every hop was permanent (301/308). Three limits hold
whatever the server does:

- time: ``FEED_TIMEOUT`` bounds the whole fetch (DNS, connecting, TLS, the
  status line and headers, the body, every redirect hop), kept by a
  :class:`~worker.ingest.deadline.Deadline`;
- size: a body past ``FEED_MAX_BYTES`` is refused without reading it all;
- place: each hop's host is resolved here, every address it resolves to
  must be public or allowed by ``FEED_ALLOW_PRIVATE``
  (:mod:`worker.domain.addresses`), and the connection goes to the very
  address checked, so a second DNS answer cannot steer it elsewhere. TLS
  still checks the certificate against the host name.

Credentials in a feed URL (``https://user:password@host/feed``) are sent as
HTTP Basic authentication to that URL's host only: a redirect to another
host gets them only if its own URL carries them. An HTTP error is a
:class:`FetchError` that keeps its status. ``fetch`` keeps no state between
calls: several threads may fetch at once.
"""

from __future__ import annotations

import base64
import functools
import os
import socket
import ssl
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPResponse
from ipaddress import ip_address
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from worker.config import Settings, redact_url
from worker.domain.addresses import AllowList, address_class, allow_list
from worker.errors import ConfigError, FeedError
from worker.ingest.deadline import Deadline
from worker.ingest.feeds import feed_url_problem
from worker.ingest.lengths import CONTROL, label

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
ALLOW_PRIVATE_HINT = "FEED_ALLOW_PRIVATE lists the private hosts a feed may be fetched from"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a path and query may hold as they are; anything else is %-encoded.
_URL_SAFE = "!$%&'()*+,/:;=?@[]~"

Address = tuple[socket.AddressFamily, tuple[object, ...]]


@dataclass(frozen=True)
class Response:
    """A feed's answer: its status, body and headers (lowercase names), the
    URL that gave it, and where the feed has moved if it moved for good."""

    status: int
    body: bytes
    headers: dict[str, str]
    final_url: str
    permanent_redirect: str | None


class FetchError(FeedError):
    """A feed could not be fetched; ``status`` is the HTTP status, if any."""

    def __init__(self, url: str, reason: str, status: int | None = None, *, hint: str = "") -> None:
        super().__init__(url, reason, hint=hint)
        self.status = status


def fetch(url: str, etag: str | None, modified: str | None, settings: Settings) -> Response:
    """The feed at ``url``, asked for only if changed since ``etag`` and
    ``modified`` (304: an empty body). Raises a :class:`FetchError` (with
    the HTTP status where there is one) otherwise."""
    allowed = _allowed(settings.feed_allow_private)
    timed_out = f"timed out after {settings.feed_timeout:g} s"
    with Deadline(settings.feed_timeout) as deadline:
        attempt = _Fetch(
            url, _request_headers(etag, modified, settings), allowed, settings, deadline
        )
        try:
            return attempt.follow()
        except TimeoutError:
            raise FetchError(url, timed_out) from None
        except (OSError, HTTPException) as error:
            # A connection the watchdog shut down fails in whatever way
            # the read in hand fails.
            raise FetchError(url, timed_out if deadline.expired else _failure(error)) from None


@functools.cache
def _allowed(entries: tuple[str, ...]) -> AllowList:
    """``FEED_ALLOW_PRIVATE`` read once per value, not once per fetch (the
    settings check has read it already; settings made in code have not)."""
    try:
        return allow_list(entries)
    except ValueError as error:
        raise ConfigError(f"FEED_ALLOW_PRIVATE: {error}") from None


@dataclass
class _Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class _Fetch:
    """One fetch: its URL, request headers, limits and deadline."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        allowed: AllowList,
        settings: Settings,
        deadline: Deadline,
    ) -> None:
        self.url = url
        self.headers = headers
        self.allowed = allowed
        self.limit = settings.feed_max_bytes
        self.deadline = deadline

    def follow(self) -> Response:
        """The answer at the end of the redirects."""
        current, permanent, all_permanent = self.url, None, True
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._get(current)
            if answer.status == 304:
                return Response(304, b"", {}, current, permanent)
            location = answer.headers.get("location") if answer.status in _REDIRECTS else None
            if location:
                target = urljoin(current, location)
                problem = feed_url_problem(target)
                if problem:
                    raise FetchError(self.url, f"redirected to {_shown(target)}, which {problem}")
                # The feed moves only when every hop so far was permanent.
                all_permanent = all_permanent and answer.status in (301, 308)
                permanent = target if all_permanent else None
                current = target
                continue
            if not 200 <= answer.status < 300:
                raise FetchError(self.url, _refusal(answer.status, answer.reason), answer.status)
            return Response(answer.status, answer.body, answer.headers, current, permanent)
        raise FetchError(self.url, "too many redirects")

    def _get(self, url: str) -> _Answer:
        """One request to ``url``, on a connection to an address it may use;
        the body is read only from a 2xx answer."""
        where = urlsplit(url)
        addresses = self._resolve(where)
        refused = self._refused(where, addresses)
        if refused:
            redirected = url != self.url
            raise FetchError(
                self.url, f"redirected to {_shown(url)}, which {refused}" if redirected else refused
            )
        connection = self._connect(addresses)
        # Closing a socket that TLS took over (detached) does nothing.
        with connection, self.deadline.watching(connection):
            stream = self._secured(connection, where) if where.scheme == "https" else connection
            http = HTTPConnection(where.hostname or "", _port(where))
            http.sock = stream  # connected here, to the address checked
            try:
                return self._exchange(http, stream, where)
            finally:
                http.close()

    def _resolve(self, where: SplitResult) -> list[Address]:
        """The addresses of ``where``'s host, looked up within the deadline."""
        try:
            found = self.deadline.call(
                lambda: socket.getaddrinfo(where.hostname, _port(where), type=socket.SOCK_STREAM),
                name="feed address lookup",
            )
        except UnicodeError:  # a label IDNA refuses: empty, or over 63 characters
            raise OSError(f"{label(where.hostname or '')!r} is not a valid host name") from None
        return [(family, sockaddr) for family, _, _, _, sockaddr in found]

    def _refused(self, where: SplitResult, addresses: list[Address]) -> str | None:
        """Why ``where`` may not be fetched from one of ``addresses``, or None."""
        for _, sockaddr in addresses:
            address = ip_address(str(sockaddr[0]))
            kind = address_class(address)
            if kind and not self.allowed.allows(where.hostname or "", address, _port(where)):
                return f"resolves to {address}, {kind}; {ALLOW_PRIVATE_HINT}"
        return None

    def _connect(self, addresses: list[Address]) -> socket.socket:
        """A connection to the first of ``addresses`` that answers."""
        failure: OSError = OSError("no address")
        for family, sockaddr in addresses:
            connection = socket.socket(family, socket.SOCK_STREAM)
            try:
                connection.settimeout(self.deadline.left())
                connection.connect(sockaddr)
            except OSError as error:  # a TimeoutError too: the last one raised
                connection.close()
                failure = error
                continue
            return connection
        raise failure

    def _secured(self, connection: socket.socket, where: SplitResult) -> ssl.SSLSocket:
        """``connection`` over TLS, the certificate checked against the host name."""
        connection.settimeout(self.deadline.left())
        context = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return context.wrap_socket(connection, server_hostname=where.hostname)

    def _exchange(
        self, http: HTTPConnection, connection: socket.socket, where: SplitResult
    ) -> _Answer:
        """The request sent and its answer read, each step within the time
        left; an answer the watchdog cut short is a timeout."""
        connection.settimeout(self.deadline.left())
        http.request("GET", _target(where), headers={**self.headers, **_own_headers(where)})
        connection.settimeout(self.deadline.left())
        response = http.getresponse()
        body = self._body(response, connection) if 200 <= response.status < 300 else b""
        if self.deadline.expired:
            raise TimeoutError
        headers = {name.lower(): value for name, value in response.headers.items()}
        return _Answer(response.status, response.reason, headers, body)

    def _body(self, response: HTTPResponse, connection: socket.socket) -> bytes:
        """The body, refused past the size limit without reading it all."""
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > self.limit:
            raise FetchError(self.url, f"feed larger than {self.limit} bytes ({length} announced)")
        chunks: list[bytes] = []
        size = 0
        while True:
            connection.settimeout(self.deadline.left())
            chunk = response.read1(CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.limit:
                raise FetchError(self.url, f"feed larger than {self.limit} bytes")
            chunks.append(chunk)


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The default TLS client context (certificates and host names checked),
    made once for each certificate store the environment names
    (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, as OpenSSL reads them)."""
    if cert_file or cert_dir:
        return ssl.create_default_context(cafile=cert_file, capath=cert_dir)
    return ssl.create_default_context()


def _request_headers(etag: str | None, modified: str | None, settings: Settings) -> dict[str, str]:
    """Who asks, for what, and (with the feed's validators) only if changed."""
    headers = {
        "User-Agent": f"verdict-digest/0.1 (+{settings.site_url})",
        "Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5",
    }
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    return headers


def _own_headers(where: SplitResult) -> dict[str, str]:
    """The headers of a request to ``where`` itself: its Host, and its
    credentials if its URL carries them."""
    host = where.hostname or ""
    # IDNA, as the lookup had it; an IPv6 address in brackets.
    host = f"[{host}]" if ":" in host else host.encode("idna").decode("ascii")
    headers = {"Host": f"{host}:{where.port}" if where.port else host}
    if where.username is not None:
        pair = f"{unquote(where.username)}:{unquote(where.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return headers


def _target(where: SplitResult) -> str:
    """The request target: path and query, %-encoded where they need it."""
    target = where.path or "/"
    if where.query:
        target += "?" + where.query
    return quote(target, safe=_URL_SAFE)


def _port(where: SplitResult) -> int:
    return where.port or _DEFAULT_PORTS[where.scheme]


def _shown(url: str) -> str:
    """A URL quoted in a message: credentials masked, on one line, cut short."""
    return repr(label(redact_url(url)))


def _refusal(status: int, reason: str) -> str:
    """What an HTTP error status that is not a redirect says of the feed."""
    return "gone (410): the feed is deactivated" if status == 410 else f"HTTP {status} {reason}"


def _failure(error: OSError | HTTPException) -> str:
    """What a failed connection or a broken answer says of the feed, on one line."""
    if isinstance(error, HTTPException) and not isinstance(error, OSError):
        words = str(error) or type(error).__name__
        return f"bad HTTP response: {CONTROL.sub(' ', words)}"
    return f"unreachable: {CONTROL.sub(' ', str(error))}"
