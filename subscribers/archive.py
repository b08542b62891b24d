"""Past editions for the public archive: which ones, and their pages made safe
to show to anyone.

An edition is public once it has gone out: ``sending``, ``paused`` (both
have reached some inboxes, whose "View in browser" link points here) and
``sent``. A ``ready`` edition has not gone out, a ``cancelled`` one was
stopped by its editor, a ``skipped`` one has nothing to show.

The archive shows the full digest (every category), with the per-recipient
links of the stored render replaced, since an archive reader is nobody in
particular:

- the Ship it / Skip it buttons stay and lead to the subscribe page (voting
  is for subscribers; the buttons show where a reader would vote);
- "Unsubscribe" becomes "Subscribe", to the subscribe page;
- "Change preferences" is removed, and the footer's "You get this email
  because you subscribed" says that the page is from the archive;
- in the text part (served as plain text beside the page) the vote and
  preferences lines are removed and the unsubscribe line becomes a
  subscribe line.

Whatever else holds a placeholder is replaced by the subscribe page, so no
``%%…%%`` placeholder ever reaches a reader.

An edition lists at most ``DIGEST_MAX_LAUNCHES`` launches and links to the
list of every launch of its week for the rest: that list is read from the
store a page at a time (:func:`published_launches`), the week's launches as
they are now.
"""

from __future__ import annotations

import datetime as dt
import enum
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from worker.config import Settings
from worker.domain import placeholders
from worker.domain.segments import EVERYONE
from worker.domain.states import WENT_OUT
from worker.domain.weeks import parse_week
from worker.errors import ConfigError
from worker.gather import LaunchPage, gather_launches
from worker.store.models import Edition, EditionSegment

# The rendered HTML's preheader sits right after <head>, about 3,000
# characters in; a listing reads this much of each edition, not all of it.
HEAD_CHARS = 8000
TEXT_CHARS = 1000
SUMMARY_LIMIT = 300

# MJML writes <mj-preview> as the first, hidden, element of the body.
_PREVIEW = re.compile(r"<body[^>]*>\s*<div style=\"display:none[^\"]*\">([^<]*)</div>")
_ANCHOR = re.compile(
    r"<a\b(?P<attrs>[^>]*)>(?P<body>.*?)</a>(?P<sep>[ \t]*·[ \t]*)?", re.DOTALL | re.IGNORECASE
)
_HREF = re.compile(r'\shref="([^"]*)"')
_PLACEHOLDER = re.compile(r"%%[a-z_]+%%")
# A URL holding a placeholder, or a bare placeholder: what the last pass replaces.
_PLACEHOLDER_URL = re.compile(r"(?:https?://[^\s\"'<>]*?)?%%[a-z_]+%%[^\s\"'<>]*")
# The footer's reason for the email (templates/email): an archive reader
# did not subscribe, so the archive says where the page comes from instead.
_REASON = re.compile(r"You get this email because you subscribed to ([^<\n]+)\.")


@dataclass(frozen=True)
class ArchiveEntry:
    """One past edition as the archive index and the feed list it."""

    week: str
    subject: str
    published_at: dt.datetime  # when it started going out
    updated_at: dt.datetime  # when it was sent; while sending, when it started
    summary: str  # the preheader, or else the text part's first lines


class Part(enum.StrEnum):
    """A part of an edition as mailed, each served on its own URL."""

    HTML = "html"
    TEXT = "text"


def is_week(text: str) -> bool:
    """Whether ``text`` is an ISO week written exactly like ``2026-W48``
    (:func:`~worker.domain.weeks.parse_week` forgives spaces; a URL must not)."""
    try:
        return str(parse_week(text)) == text
    except ConfigError:
        return False


def past_editions(
    session: Session, list_id: str, *, limit: int | None = None
) -> list[ArchiveEntry]:
    """The public editions of ``list_id``, newest week first."""
    query = (
        _public(
            list_id,
            Edition.week,
            EditionSegment.subject,
            Edition.sent_at,
            Edition.started_at,
            Edition.created_at,
            func.substr(EditionSegment.html, 1, HEAD_CHARS),
            func.substr(EditionSegment.text, 1, TEXT_CHARS),
        )
        .order_by(Edition.week.desc())
        .limit(limit)
    )
    entries = []
    for week, subject, sent_at, started_at, created_at, head, text in session.execute(query):
        published = started_at or created_at
        entries.append(
            ArchiveEntry(
                week=week,
                subject=subject,
                published_at=published,
                updated_at=sent_at or published,
                summary=summary_of(head, text),
            )
        )
    return entries


def archived_part(
    session: Session, list_id: str, week: str, part: Part, subscribe_url: str
) -> str | None:
    """``part`` of ``week``'s edition as the archive shows it (the full
    digest, per-recipient links removed), or None if there is none to show
    (no such week, not public, or a malformed week). Only that part is read
    and cleaned."""
    if not is_week(week):
        return None
    column, public = _PARTS[part]
    rendered = session.scalar(_public(list_id, column).where(Edition.week == week))
    return None if rendered is None else public(rendered, subscribe_url)


def published_launches(
    session: Session, settings: Settings, week: str, *, offset: int, limit: int
) -> LaunchPage | None:
    """A page of ``week``'s launches (:func:`~worker.gather.gather_launches`),
    or None when the week has no public edition (or is malformed)."""
    if not is_week(week):
        return None
    if session.scalar(_public(settings.list_id, Edition.id).where(Edition.week == week)) is None:
        return None
    return gather_launches(session, parse_week(week), settings, offset=offset, limit=limit)


def public_html(rendered: str, subscribe_url: str) -> str:
    """A segment's stored HTML with every per-recipient link replaced (see
    the module's docstring for what becomes of each)."""
    url = html.escape(subscribe_url, quote=True)

    def anchor(match: re.Match[str]) -> str:
        attrs, body, sep = match["attrs"], match["body"], match["sep"] or ""
        href = _HREF.search(attrs)
        if href is None or not _PLACEHOLDER.search(href[1]):
            return match[0]
        target = href[1]
        attrs = _HREF.sub(lambda _: f' href="{url}"', attrs, count=1)
        if placeholders.PREFERENCES_URL in target:
            return ""  # with its separator: nothing to point to
        if placeholders.UNSUBSCRIBE_URL in target:
            return f"<a{attrs}>Subscribe</a>{sep}"
        if placeholders.VOTE_TOKEN in target:
            return f'<a{attrs} title="Subscribe to vote">{body}</a>{sep}'
        return f"<a{attrs}>{body}</a>{sep}"

    return _PLACEHOLDER_URL.sub(url, _ANCHOR.sub(anchor, _from_archive(rendered)))


def public_text(rendered: str, subscribe_url: str) -> str:
    """A segment's stored text part with every per-recipient link replaced."""
    lines: list[str] = []
    for line in _from_archive(rendered).splitlines():
        if placeholders.VOTE_TOKEN in line or placeholders.PREFERENCES_URL in line:
            continue
        if placeholders.UNSUBSCRIBE_URL in line:
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}Subscribe: {subscribe_url}"
        line = _PLACEHOLDER_URL.sub(subscribe_url, line)
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line)
    return "\n".join(lines).strip("\n") + "\n"


def summary_of(head: str, text: str) -> str:
    """The preheader of a rendered edition (from the start of its HTML), or
    else the first lines of its text part, on one line."""
    preview = _PREVIEW.search(head)
    if preview and preview[1].strip():
        summary = " ".join(html.unescape(preview[1]).split())
    else:
        first = [line.strip() for line in text.splitlines() if line.strip()][:3]
        summary = " · ".join(first)
    summary = _PLACEHOLDER_URL.sub("", summary).strip()
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    return summary


def _from_archive(rendered: str) -> str:
    return _REASON.sub(r"This is an edition of \1, from the archive.", rendered)


def _public(list_id: str, *columns: Any) -> Select[Any]:
    """``columns`` of the public editions of ``list_id`` joined to their
    full-digest render."""
    return (
        select(*columns)
        .select_from(Edition)
        .join(
            EditionSegment,
            and_(EditionSegment.edition_id == Edition.id, EditionSegment.segment == EVERYONE),
        )
        .where(Edition.list_id == list_id, Edition.status.in_(WENT_OUT))
    )


# Each part's stored column, and what makes it public.
_PARTS: dict[Part, tuple[Any, Callable[[str, str], str]]] = {
    Part.HTML: (EditionSegment.html, public_html),
    Part.TEXT: (EditionSegment.text, public_text),
}
