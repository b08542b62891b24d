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
  still checks the certificate against the host name
  (:mod:`worker.ingest.outbound` makes each request).

Credentials in a feed URL (``https://user:password@host/feed``) are sent as
HTTP Basic authentication to that URL's host only: a redirect to another
host gets them only if its own URL carries them. An HTTP error is a
:class:`FetchError` that keeps its status. ``fetch`` keeps no state between
calls: several threads may fetch at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urljoin

from worker.config import Settings, redact_url
from worker.domain.addresses import AllowList
from worker.errors import FeedError
from worker.ingest.deadline import Deadline
from worker.ingest.feeds import feed_url_problem
from worker.ingest.lengths import label
from worker.ingest.outbound import AddressRefused, Reply, allowed_hosts, exchange, failure

MAX_REDIRECTS = 5
ALLOW_PRIVATE_HINT = "FEED_ALLOW_PRIVATE lists the private hosts a feed may be fetched from"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
    allowed = allowed_hosts("FEED_ALLOW_PRIVATE", settings.feed_allow_private)
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
            raise FetchError(url, timed_out if deadline.expired else failure(error)) from None


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
        """One request to ``url``, on a connection to an address it may use
        (:mod:`worker.ingest.outbound`); the body is read only from a 2xx
        answer."""
        try:
            with exchange("GET", url, self.headers, None, self.allowed, self.deadline) as reply:
                body = self._body(reply) if 200 <= reply.status < 300 else b""
        except AddressRefused as error:
            refused = f"{error}; {ALLOW_PRIVATE_HINT}"
            redirected = url != self.url
            raise FetchError(
                self.url, f"redirected to {_shown(url)}, which {refused}" if redirected else refused
            ) from None
        if self.deadline.expired:  # an answer the watchdog cut short
            raise TimeoutError
        return _Answer(reply.status, reply.reason, reply.headers, body)

    def _body(self, reply: Reply) -> bytes:
        """The body, refused past the size limit without reading it all."""
        length = reply.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.limit:
            raise FetchError(self.url, f"feed larger than {self.limit} bytes ({length} announced)")
        body = reply.read(self.limit)
        if len(body) > self.limit:
            raise FetchError(self.url, f"feed larger than {self.limit} bytes")
        return body


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


def _shown(url: str) -> str:
    """A URL quoted in a message: credentials masked, on one line, cut short."""
    return repr(label(redact_url(url)))


def _refusal(status: int, reason: str) -> str:
    """What an HTTP error status that is not a redirect says of the feed."""
    return "gone (410): the feed is deactivated" if status == 410 else f"HTTP {status} {reason}"
