"""Counted links: an edition's content links through the subscriber app's
short signed redirect, ``SITE_URL/r/<token>?to=<destination>``.

The token names the edition (by its week: one edition per list and week),
the item (``comparison:SLUG``, ``tool:SLUG``, ``launch:SLUG``,
``intro:N`` for the N-th link of the editor's intro) and, through its HMAC,
the destination beside it; never a reader, so a forwarded email counts the
same and nobody is profiled. The destination travels in the query string as
written (only the characters a query value cannot hold are escaped): a
reader hovering over the link sees where it goes, and it costs about half
the bytes of carrying it inside the token.

    https://verdicts.example/r/2026-W48.l.parcelbot.Xq3…?to=https://parcelbot.example/

The HMAC (SHA-256 under ``SECRET_KEY``, cut to 96 bits) covers the list,
the week, the item and the destination, so changing any of them makes the
link a 400, never a redirect elsewhere. Tokens carry no time: the archive
keeps its links, and the same week renders the same links whenever it is
built or previewed. Keys in ``OLD_SECRET_KEYS`` still verify.
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass, field
from html import unescape
from typing import Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from worker.domain.keyed import hmac_of
from worker.domain.tokens import BadToken, SigningKeys
from worker.domain.urls import is_web_url

#: The path of the redirect on the subscriber app.
REDIRECT_PATH = "/r/"
#: The query parameter holding the destination.
DESTINATION = "to"
#: The kinds of item a link names, as a token spells them.
KINDS = {"c": "comparison", "t": "tool", "l": "launch", "i": "intro"}
_CODES = {kind: code for code, kind in KINDS.items()}
MAC_BYTES = 12
# Characters a query value may hold as they are (RFC 3986), but for those a
# form decoder reads otherwise: "&" ends the value, "+" is a space, "#"
# starts a fragment, "%" an escape, ";" a separator to older decoders; and
# "'", which would end the link where a report reads it in a text part.
_QUERY_SAFE = "/:@!$()*,=?~"
_WEEK = re.compile(r"\d{4}-W\d{2}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")


class ClickSettings(SigningKeys, Protocol):
    """What counted links need of the settings (:class:`worker.config.Settings`
    has it): whether they are on, the site, and the signing keys."""

    @property
    def click_counts(self) -> bool: ...

    @property
    def site_url(self) -> str: ...


@dataclass(frozen=True)
class ClickLinks:
    """How one edition's content links are written: through the redirect,
    signed for its list and week."""

    site_url: str
    list_id: str
    week: str
    key: str = field(repr=False)  # SECRET_KEY, which signs

    def url(self, item: str, destination: str) -> str:
        """The redirect to ``destination`` counted for ``item``; the
        destination as it is when it is no web URL or the item cannot be
        named in a token (nothing a reader could follow is counted then)."""
        token = self.token(item, destination)
        if token is None:
            return destination
        where = quote(destination, safe=_QUERY_SAFE)
        return f"{self.site_url.rstrip('/')}{REDIRECT_PATH}{token}?{DESTINATION}={where}"

    def token(self, item: str, destination: str) -> str | None:
        """The token of ``item`` and ``destination``, or None (see :meth:`url`)."""
        kind, _, name = item.partition(":")
        if kind not in _CODES or not _NAME.fullmatch(name) or not is_web_url(destination):
            return None
        mac = _mac(self.key, self.list_id, self.week, item, destination)
        return f"{self.week}.{_CODES[kind]}.{name}.{mac}"


def edition_links(settings: ClickSettings, week: str) -> ClickLinks | None:
    """The counted links of ``week``'s edition, or None with
    ``CLICK_COUNTS=off`` (links stay as they are)."""
    if not settings.click_counts:
        return None
    return ClickLinks(settings.site_url, settings.list_id, week, settings.secret_key)


@dataclass(frozen=True)
class Click:
    """What a genuine redirect link names."""

    week: str
    item: str
    destination: str


def read_click(keys: SigningKeys, token: str, destination: str) -> Click:
    """The week, item and destination of a redirect link, when ``token``
    was signed for ``destination`` on this list (under ``SECRET_KEY`` or one
    of ``OLD_SECRET_KEYS``) and the destination is an http(s) URL; raises
    :class:`BadToken` otherwise."""
    week, item, mac = _parts(token)
    if not is_web_url(destination):
        raise BadToken("this link does not lead to a web page")
    keys_tried = (keys.secret_key, *keys.old_secret_keys)
    if not any(
        hmac.compare_digest(_mac(key, keys.list_id, week, item, destination), mac)
        for key in keys_tried
    ):
        raise BadToken("this link is not valid (altered, or made for another page)")
    return Click(week, item, destination)


def _parts(token: str) -> tuple[str, str, str]:
    """The week, item and HMAC a token spells; raises :class:`BadToken`."""
    parts = token.split(".")
    if len(parts) != 4:
        raise BadToken("this link is not valid")
    week, code, name, mac = parts
    if not _WEEK.fullmatch(week) or code not in KINDS or not _NAME.fullmatch(name):
        raise BadToken("this link is not valid")
    return week, f"{KINDS[code]}:{name}", mac


def _mac(key: str, list_id: str, week: str, item: str, destination: str) -> str:
    message = "\n".join(("verdict-digest.click", list_id, week, item, destination))
    digest = hmac_of(key.encode(), "sha256", message.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).decode("ascii")


def destination_of(url: str, site_url: str) -> str | None:
    """Where a redirect link under ``site_url`` leads (unchecked), or None
    for any other URL."""
    prefix = f"{site_url.rstrip('/')}{REDIRECT_PATH}"
    if not url.startswith(prefix):
        return None
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return query.get(DESTINATION)


# A redirect link as a stored render holds it: in an href (HTML-escaped) or
# on a line of the text part.
_LINK = r"/r/([\w.-]+)\?to=([^\s\"'<>]+)"


def counted_links(rendered: str, site_url: str) -> dict[str, str]:
    """Each item's destination, as the redirect links under ``site_url`` in
    a stored render (HTML or text) name them, the first link of an item
    winning; unchecked, since the render is the edition's own: what a report
    reads to say where an item's link went."""
    found: dict[str, str] = {}
    for link in re.finditer(re.escape(site_url.rstrip("/")) + _LINK, rendered):
        try:
            _week, item, _mac = _parts(link[1])
        except BadToken:
            continue
        found.setdefault(item, unquote(unescape(link[2])))
    return found
