"""Whether a message's links work: one HEAD (or GET) per URL, in a thread pool.

Only ``digest lint --check-links`` asks for it: it is the
one check that goes to the network. A reader's own links (unsubscribe,
preferences, votes) are skipped: in a lint they carry a sample reader's
signed tokens, and following them could unsubscribe or vote for that reader.
A counted link (``SITE_URL/r/…``, :mod:`worker.domain.clicks`) is checked
at its destination: the redirect would count the check as a reader's click,
and the subscriber app that serves it may not be running where the lint is.
"""

from __future__ import annotations

import functools
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException, HTTPMessage
from typing import IO

from worker.config import Settings
from worker.domain.clicks import destination_of
from worker.editor.lint.message import Mail
from worker.editor.lint.rules import Finding, Level

# Paths under SITE_URL whose links carry a recipient's signed token.
RECIPIENT_PATHS = ("/u/", "/preferences/", "/vote/")
# Statuses by which a server refuses HEAD itself rather than the page.
_HEAD_REFUSED = frozenset((403, 405, 501))


def links_of(mail: Mail) -> list[str]:
    """Unique http(s) hrefs of the HTML part's <a> and <img src>, in order."""
    scan = mail.scan
    if scan is None:
        return []
    urls = (url.strip() for url in scan.urls)
    return [url for url in dict.fromkeys(urls) if url.lower().startswith(("http://", "https://"))]


def check_links(
    urls: Iterable[str], settings: Settings, *, timeout: float = 10, workers: int = 8
) -> list[Finding]:
    """An error for each of ``urls`` that fails (a status of 400 or more, a
    timeout, a connection error), nothing for working ones, and one info on
    how many were checked and how many per-recipient links were skipped."""
    site = settings.site_url.rstrip("/")
    recipient = tuple(f"{site}{path}" for path in RECIPIENT_PATHS)
    web = [url for url in dict.fromkeys(urls) if url.lower().startswith(("http://", "https://"))]
    counted = {url: destination_of(url, site) for url in web}
    unique = list(dict.fromkeys(counted[url] or url for url in web))
    skipped = [url for url in unique if url.startswith(recipient)]
    checked = [url for url in unique if not url.startswith(recipient)]
    redirects = sum(1 for destination in counted.values() if destination)
    # Names the project and the site it checks for, as polite crawlers do.
    agent = f"verdict-digest-linkcheck (+{site})"
    check = functools.partial(_failure, timeout=timeout, agent=agent)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        failures = list(pool.map(check, checked))
    findings = [
        Finding(Level.ERROR, "link-check", f"link fails: {url} ({failure})")
        for url, failure in zip(checked, failures, strict=True)
        if failure is not None
    ]
    summary = (
        f"checked {len(checked)} link{'s' if len(checked) != 1 else ''}; skipped "
        f"{len(skipped)} per-recipient link{'s' if len(skipped) != 1 else ''} under {site} "
        f"({', '.join(RECIPIENT_PATHS)}): they carry a sample reader's signed tokens"
    )
    if redirects:
        summary += (
            f"; {redirects} counted link{'s' if redirects != 1 else ''} ({site}/r/…) "
            "checked at their destinations"
        )
    return [*findings, Finding(Level.INFO, "link-check", summary)]


class _SameMethodRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects with the request's own method: urllib turns a
    redirected HEAD into a GET, which downloads the page."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.method = req.get_method()
        return new


_OPENER = urllib.request.build_opener(_SameMethodRedirects)


def _failure(url: str, *, timeout: float, agent: str) -> str | None:
    """Why ``url`` fails, or None when it works: HEAD first, GET when the
    server refuses HEAD."""
    status = _status(url, "HEAD", timeout, agent)
    if isinstance(status, int) and status in _HEAD_REFUSED:
        status = _status(url, "GET", timeout, agent)
    if isinstance(status, str):
        return status
    return f"HTTP {status}" if status >= 400 else None


def _status(url: str, method: str, timeout: float, agent: str) -> int | str:
    """The final HTTP status of ``method`` on ``url``, or why there is none."""
    try:
        request = urllib.request.Request(url, method=method, headers={"User-Agent": agent})
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status)
    except ValueError as error:  # a URL that does not parse (http://[oops/)
        return f"not a valid URL: {error}"
    except urllib.error.HTTPError as error:
        error.close()
        if error.code < 400:  # a redirect urllib would not follow: a loop, or to ftp:
            why = str(error.reason).partition("\n")[0]
            return f"HTTP {error.code}: {why}"
        return error.code
    except urllib.error.URLError as error:
        return _reason(error.reason)
    except (OSError, HTTPException) as error:  # a timeout, a reset, a bad status line
        return _reason(error)


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, socket.gaierror):
        return f"host not found: {reason.strerror or reason}"
    return str(reason) or type(reason).__name__
