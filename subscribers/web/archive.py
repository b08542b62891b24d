"""The public archive: past editions as web pages and as an Atom feed.

``/archive`` lists the editions, ``/archive/2026-W48`` serves one as the
page it was mailed as (per-recipient links removed, see
:mod:`subscribers.archive`), ``/archive/2026-W48.txt`` its plain-text part,
``/archive/2026-W48/launches`` every launch of its week (an edition lists at
most ``DIGEST_MAX_LAUNCHES`` and links here for the rest), and
``/archive.atom`` is the feed. Every URL in the feed is absolute, on
``SITE_URL``, like the links in the emails.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from flask import Blueprint, Response, render_template, request, url_for

from subscribers.archive import (
    ArchiveEntry,
    Part,
    archived_part,
    is_week,
    past_editions,
    published_launches,
)
from subscribers.web.state import sessions, settings
from worker.domain.launches import by_category
from worker.domain.urls import archive_url, is_web_url
from worker.now import process_now

blueprint = Blueprint("archive", __name__)

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 20
LAUNCHES_PER_PAGE = 500  # about 100 KB of page
# An edition is its own complete page: its inline styles only. No script,
# no frame, no form, and no web fonts (the stored HTML links Google Fonts,
# which would tell Google who reads the archive).
EDITION_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# A sent edition never changes; one that is still sending may lose a segment
# of nothing, never its full digest.
CACHE = "public, max-age=300"
_MIMETYPES = {Part.HTML: "text/html", Part.TEXT: "text/plain"}
# Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@blueprint.get("/archive")
def index() -> Response:
    """Every past edition, newest first: week, subject, date."""
    with sessions()() as session:
        editions = past_editions(session, settings().list_id)
    page = render_template(
        "archive.html",
        editions=editions,
        zone=settings().timezone,
        feed_url=url_for("archive.feed"),
    )
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = CACHE
    return response


@blueprint.get("/archive/<path:week>")
def edition(week: str) -> Response:
    """One past edition, as mailed to a subscriber of every category."""
    return _edition_part(week, Part.HTML)


@blueprint.get("/archive/<week>.txt")
def edition_text(week: str) -> Response:
    """The plain-text part of one past edition, for readers of plain text."""
    return _edition_part(week, Part.TEXT)


@blueprint.get("/archive/<week>/launches")
def edition_launches(week: str) -> Response:
    """Every launch of a past edition's week, by category and name, a page
    of them at a time (``?page=2``)."""
    page = request.args.get("page", 1, type=int)
    first = (max(page, 1) - 1) * LAUNCHES_PER_PAGE
    with sessions()() as session:
        found = published_launches(session, settings(), week, offset=first, limit=LAUNCHES_PER_PAGE)
    if found is None:
        return _missing(week)
    pages = max(1, -(-found.total // LAUNCHES_PER_PAGE))
    if not 1 <= page <= pages:
        detail = f"{week} has {pages} page{'s' if pages != 1 else ''} of launches."
        missing = render_template("archive_missing.html", detail=detail)
        return Response(missing, status=404, mimetype="text/html")
    body = render_template(
        "archive_launches.html",
        week=week,
        total=found.total,
        first=first + 1,
        last=first + len(found.launches),
        groups=by_category(found.launches),
        page=page,
        pages=pages,
        web_url=is_web_url,
    )
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = CACHE
    return response


@blueprint.get("/archive.atom")
def feed() -> Response:
    """The latest editions as an Atom feed."""
    with sessions()() as session:
        editions = past_editions(session, settings().list_id, limit=FEED_ENTRIES)
    body = atom_feed(
        editions,
        title=settings().list_name,
        site_url=settings().site_url,
        now=process_now(),
    )
    response = Response(body, mimetype="application/atom+xml")
    response.headers["Cache-Control"] = CACHE
    return response


def atom_feed(
    editions: Sequence[ArchiveEntry], *, title: str, site_url: str, now: dt.datetime
) -> bytes:
    """An Atom (RFC 4287) document of ``editions``, UTF-8. Each entry's id is
    its archive URL, the same URL its emails link to as "View in browser".
    ``now`` is the feed's ``updated`` only when there is no edition yet."""
    site = site_url.rstrip("/")
    root = ET.Element("feed", {"xmlns": ATOM})
    _text(root, "id", f"{site}/archive")
    _text(root, "title", title)
    _text(root, "subtitle", f"Past editions of {title}")
    ET.SubElement(
        root, "link", rel="self", type="application/atom+xml", href=f"{site}/archive.atom"
    )
    ET.SubElement(root, "link", rel="alternate", type="text/html", href=f"{site}/archive")
    _text(root, "updated", _rfc3339(max((e.updated_at for e in editions), default=now)))
    author = ET.SubElement(root, "author")
    _text(author, "name", title)
    for edition in editions:
        url = archive_url(site, edition.week)
        entry = ET.SubElement(root, "entry")
        _text(entry, "id", url)
        _text(entry, "title", edition.subject)
        ET.SubElement(entry, "link", rel="alternate", type="text/html", href=url)
        _text(entry, "published", _rfc3339(edition.published_at))
        _text(entry, "updated", _rfc3339(edition.updated_at))
        _text(entry, "summary", edition.summary)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _text(parent: ET.Element, tag: str, text: str) -> None:
    # ElementTree escapes markup characters; it would write control
    # characters as they are, which no XML parser accepts.
    ET.SubElement(parent, tag).text = _NOT_XML.sub("", text)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _edition_part(week: str, part: Part) -> Response:
    with sessions()() as session:
        body = archived_part(session, settings().list_id, week, part, _subscribe_url())
    if body is None:
        return _missing(week)
    # text/plain is sent with charset=utf-8 by Flask, and never sniffed as HTML.
    response = Response(body, mimetype=_MIMETYPES[part])
    response.headers["Content-Security-Policy"] = EDITION_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = CACHE
    return response


def _subscribe_url() -> str:
    return f"{settings().site_url.rstrip('/')}{url_for('pages.home')}"


def _missing(week: str) -> Response:
    if is_week(week):
        detail = f"There is no published edition for {week}."
    else:
        detail = f"“{week[:40]}” is not a week; archive pages are named like 2026-W48."
    page = render_template("archive_missing.html", detail=detail)
    return Response(page, status=404, mimetype="text/html")
