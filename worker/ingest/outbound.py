"""One HTTP request from the worker to another host (a feed's server, a
webhook receiver), within limits the other end cannot stretch.

- time: every step (DNS, connecting, TLS, the request, the status line and
  headers, each read of the body) gets what is left of one
  :class:`~worker.ingest.deadline.Deadline`, whose watchdog shuts the
  connection when it runs out;
- place: the host is resolved here, every address it resolves to must be
  public or allowed by an :class:`~worker.domain.addresses.AllowList`
  (:class:`AddressRefused` otherwise), and the connection goes to the very
  address checked, so a second DNS answer cannot steer it elsewhere. TLS
  still checks the certificate against the host name.

Credentials in the URL (``https://user:password@host/…``) are sent as HTTP
Basic authentication to that URL's host. Redirects are the caller's to
follow, or not.
"""

from __future__ import annotations

import base64
import functools
import os
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPResponse
from ipaddress import ip_address
from urllib.parse import SplitResult, quote, unquote, urlsplit

from worker.domain.addresses import AllowList, address_class, allow_list
from worker.errors import ConfigError, DigestError
from worker.ingest.deadline import Deadline
from worker.ingest.lengths import CONTROL, label

CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a path and query may hold as they are; anything else is %-encoded.
_URL_SAFE = "!$%&'()*+,/:;=?@[]~"

Address = tuple[socket.AddressFamily, tuple[object, ...]]


class AddressRefused(DigestError):
    """A host resolves to an address the worker may not reach (loopback,
    private, …) and the allow list does not let it."""


@dataclass(frozen=True)
class Reply:
    """An answer's status line and headers (lowercase names); its body is
    read with :meth:`read`, within the request's deadline."""

    status: int
    reason: str
    headers: dict[str, str]
    response: HTTPResponse
    stream: socket.socket
    deadline: Deadline

    def read(self, limit: int) -> bytes:
        """The body, or as much of it as passes ``limit`` by one chunk at
        most: a caller sees it is too long without it being read whole."""
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            self.stream.settimeout(self.deadline.left())
            chunk = self.response.read1(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            chunks.append(chunk)
        return b"".join(chunks)


@contextmanager
def exchange(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    allowed: AllowList,
    deadline: Deadline,
) -> Iterator[Reply]:
    """Send one request to ``url`` and yield its answer, the connection
    open until the block ends. Raises :class:`AddressRefused`, TimeoutError
    (the deadline passed), OSError or ``http.client.HTTPException``."""
    where = urlsplit(url)
    addresses = _resolve(where, deadline)
    _check(where, addresses, allowed)
    connection = _connect(addresses, deadline)
    # Closing a socket that TLS took over (detached) does nothing.
    with connection, deadline.watching(connection):
        stream = _secured(connection, where, deadline) if where.scheme == "https" else connection
        http = HTTPConnection(where.hostname or "", port(where))
        http.sock = stream  # connected here, to the address checked
        try:
            stream.settimeout(deadline.left())
            http.request(method, _target(where), body, headers={**headers, **_own(where)})
            stream.settimeout(deadline.left())
            response = http.getresponse()
            answer = {name.lower(): value for name, value in response.headers.items()}
            yield Reply(response.status, response.reason, answer, response, stream, deadline)
        finally:
            http.close()


@functools.cache
def allowed_hosts(variable: str, entries: tuple[str, ...]) -> AllowList:
    """The allow list of setting ``variable`` (``FEED_ALLOW_PRIVATE``,
    ``WEBHOOK_ALLOW_PRIVATE``), read once per value, not once per request
    (the settings check has read it already; settings made in code have
    not): a ConfigError names the variable."""
    try:
        return allow_list(entries)
    except ValueError as error:
        raise ConfigError(f"{variable}: {error}") from None


def failure(error: OSError | HTTPException) -> str:
    """What a failed connection or a broken answer says, on one line."""
    if isinstance(error, HTTPException) and not isinstance(error, OSError):
        words = str(error) or type(error).__name__
        return f"bad HTTP response: {CONTROL.sub(' ', words)}"
    return f"unreachable: {CONTROL.sub(' ', str(error))}"


def port(where: SplitResult) -> int:
    """The port a URL's parts name, or its scheme's."""
    return where.port or _DEFAULT_PORTS[where.scheme]


def _resolve(where: SplitResult, deadline: Deadline) -> list[Address]:
    """The addresses of ``where``'s host, looked up within the deadline."""
    try:
        found = deadline.call(
            lambda: socket.getaddrinfo(where.hostname, port(where), type=socket.SOCK_STREAM),
            name="address lookup",
        )
    except UnicodeError:  # a label IDNA refuses: empty, or over 63 characters
        raise OSError(f"{label(where.hostname or '')!r} is not a valid host name") from None
    return [(family, sockaddr) for family, _, _, _, sockaddr in found]


def _check(where: SplitResult, addresses: list[Address], allowed: AllowList) -> None:
    """Raise :class:`AddressRefused` if one of ``addresses`` may not be used."""
    for _, sockaddr in addresses:
        address = ip_address(str(sockaddr[0]))
        kind = address_class(address)
        if kind and not allowed.allows(where.hostname or "", address, port(where)):
            raise AddressRefused(f"resolves to {address}, {kind}")


def _connect(addresses: list[Address], deadline: Deadline) -> socket.socket:
    """A connection to the first of ``addresses`` that answers."""
    failure: OSError = OSError("no address")
    for family, sockaddr in addresses:
        connection = socket.socket(family, socket.SOCK_STREAM)
        try:
            connection.settimeout(deadline.left())
            connection.connect(sockaddr)
        except OSError as error:  # a TimeoutError too: the last one raised
            connection.close()
            failure = error
            continue
        return connection
    raise failure


def _secured(connection: socket.socket, where: SplitResult, deadline: Deadline) -> ssl.SSLSocket:
    """``connection`` over TLS, the certificate checked against the host name."""
    connection.settimeout(deadline.left())
    context = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return context.wrap_socket(connection, server_hostname=where.hostname)


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The default TLS client context (certificates and host names checked),
    made once for each certificate store the environment names
    (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, as OpenSSL reads them)."""
    if cert_file or cert_dir:
        return ssl.create_default_context(cafile=cert_file, capath=cert_dir)
    return ssl.create_default_context()


def _own(where: SplitResult) -> dict[str, str]:
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
