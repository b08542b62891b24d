"""The editor's preview: the coming edition as a sample reader gets it.

A preview is composed by the same code as a delivery (render, then
:func:`worker.compose.message.compose_message`) for a sample reader who is nobody on
the list (subscriber id 0: its signed links unsubscribe nobody, so a shared
preview leaks no one's links). While an edition can still be rebuilt, the
preview is a fresh render of the store, what ``digest build`` and ``digest
send`` make now; a built edition that differs (the schedule sends it as
built) gets a warning. Once deliveries exist, the edition's stored render is
what goes out, and what is shown.

:func:`read_week` is the only store reader here; everything after it is a
pure function of what it read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.config import Settings
from worker.deliver.editions import find_edition, rebuildable, segment_keys
from worker.domain.clicks import ClickLinks, edition_links
from worker.domain.digest import Digest
from worker.domain.editorial import (
    EditionFile,
    shape,
    unknown_items,
)
from worker.domain.segments import EVERYONE, segment_categories, segment_label
from worker.domain.states import EditionStatus
from worker.domain.weeks import Week
from worker.editor.lint.editorial import editorial_findings
from worker.editor.lint.linkcheck import check_links, links_of
from worker.editor.lint.message import Mail, read_message
from worker.editor.lint.rules import Finding, Level, by_level, lint_mail
from worker.editor.lint.spamcheck import spam_check_findings
from worker.errors import DigestError
from worker.gather import gather_computed, gather_edition_file, gather_shaped
from worker.mail.base import OutgoingMessage
from worker.render.renderer import Renderer

SAMPLE_READER = Recipient(subscriber_id=0, email="reader@example.com", name="Sample Reader")


class NothingToPreview(DigestError):
    """The segment gets nothing that week."""


@dataclass(frozen=True)
class WeekSource:
    """What the store holds for one week's preview, read in one go."""

    week: Week
    digest: Digest
    segments: tuple[str, ...]  # EVERYONE first, then the subscribers' choices
    edition_id: int  # 0 before the edition exists
    edition_status: str | None
    # The edition's renders by segment (empty when there is no edition).
    rendered: Mapping[str, SegmentParts] = field(default_factory=dict)
    # True once a build may no longer replace its renders (it has deliveries,
    # or is sending, sent, cancelled): they are what goes out.
    delivered: bool = False
    # The week's edition file, what the lint says of the items it names that
    # the week does not have, and the subject of the week before's edition.
    edition_file: EditionFile | None = None
    missing: tuple[Finding, ...] = ()
    previous_subject: str | None = None


@dataclass(frozen=True)
class Preview:
    """One segment's message for the sample reader, and its parts decoded."""

    week: str
    segment: str
    edition_status: str | None
    stored: bool  # shown from the edition's stored render
    parts: SegmentParts  # before the reader's links were filled in
    message: OutgoingMessage
    mail: Mail  # the message parsed, as a mail client (and the lint) reads it

    @property
    def raw(self) -> bytes:
        """The whole message, as a backend gets it."""
        return self.message.data

    @property
    def subject(self) -> str:
        """The Subject header, decoded."""
        return self.mail.subject

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header of the message, decoded, in order."""
        return tuple((name, str(value)) for name, value in self.mail.message.items())

    @property
    def html(self) -> str:
        """The HTML part, decoded: what the frames show."""
        return self.mail.html or ""

    @property
    def text(self) -> str:
        """The plain-text part, decoded."""
        return self.mail.text or ""

    @property
    def preheader(self) -> str:
        """The preview text inboxes show after the subject ("" if none)."""
        return (self.mail.scan.preheader if self.mail.scan else None) or ""


def read_week(
    session: Session, week: Week, settings: Settings, edition_file: EditionFile | None = None
) -> WeekSource:
    """The week's content, segments and edition, as a preview needs them;
    shaped by ``edition_file`` (one being written, not yet stored) when
    given, else by the week's stored edition file."""
    if edition_file is None:
        digest, missing = gather_shaped(session, week, settings)
        edition_file = gather_edition_file(session, week, settings)
        # The send goes on without them: worth a look, not a stop.
        gone, level = "hidden or removed since the file was stored", Level.WARNING
    else:
        computed = gather_computed(session, week, settings)
        missing = unknown_items(computed, edition_file, edition_file.name)
        digest = shape(computed, edition_file, edition_file.name, strict=False)
        gone, level = "`digest edition import` refuses the file until it is fixed", Level.ERROR
    keys = (EVERYONE, *sorted(k for k in set(segment_keys(session)) if k != EVERYONE))
    previous = find_edition(session, settings.list_id, str(week.previous()))
    editorial = {
        "edition_file": edition_file,
        "missing": tuple(Finding(level, "edition-file", f"{m} ({gone})") for m in missing),
        "previous_subject": previous.subject if previous is not None else None,
    }
    edition = find_edition(session, settings.list_id, str(week))
    if edition is None:
        return WeekSource(week, digest, keys, 0, None, **editorial)
    rendered = {s.segment: SegmentParts(s.subject, s.html, s.text) for s in edition.segments}
    delivered = not rebuildable(session, edition)
    return WeekSource(
        week, digest, keys, edition.id, str(edition.status), rendered, delivered, **editorial
    )


def known_segment(source: WeekSource, segment: str) -> str:
    """``segment`` as the week's segments spell it, when one matches but for
    case ("design" is the subscribers' "Design"): categories match so."""

    def folded(key: str) -> list[str]:
        return sorted(name.casefold() for name in segment_categories(key))

    wanted = folded(segment)
    known = (*source.segments, *source.rendered)  # the edition's may be of older choices
    return next((key for key in known if folded(key) == wanted), segment)


def segment_parts(
    source: WeekSource, segment: str, renderer: Renderer, clicks: ClickLinks | None = None
) -> SegmentParts:
    """What a send would deliver to ``segment``: the edition's render once it
    has deliveries, else a fresh one (what ``digest build`` and ``digest
    send`` make of the store now, its links through ``clicks`` as a build
    writes them). Raises NothingToPreview."""
    if source.delivered:
        if segment not in source.rendered:
            raise NothingToPreview(
                f"{source.week}: the edition ({source.edition_status}) has no render for "
                f"{segment_label(segment)}"
            )
        return source.rendered[segment]
    rendered = renderer.render_segment(source.digest, segment, clicks)
    if rendered is None:
        raise NothingToPreview(
            f"{source.week}: nothing for {segment_label(segment)} this week"
            + ("" if segment else " (the edition would be skipped)")
        )
    return SegmentParts(rendered.subject, rendered.html, rendered.text)


def compose_preview(
    source: WeekSource,
    segment: str,
    renderer: Renderer,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    recipient: Recipient = SAMPLE_READER,
    test: bool = False,
    with_fields: bool = False,
) -> Preview:
    """``segment``'s message for ``recipient`` (the sample reader unless
    told), composed as a delivery is (``with_fields`` for an email API
    backend)."""
    segment = known_segment(source, segment)
    parts = segment_parts(source, segment, renderer, edition_links(settings, str(source.week)))
    edition = EditionRef(source.edition_id, str(source.week))
    message = compose_message(
        parts, recipient, edition, settings, now=now, test=test, with_fields=with_fields
    )
    return Preview(
        week=str(source.week),
        segment=segment,
        edition_status=source.edition_status,
        stored=source.delivered,
        parts=parts,
        message=message,
        mail=read_message(message.data),
    )


# The template's dark rules sit under this media query (and [data-ogsc],
# which Outlook.com sets on the elements it darkens).
_DARK_QUERY = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE)


def dark_mode(html: str) -> str:
    """``html`` as a mail client in dark mode shows it (Apple Mail, iOS,
    Outlook.com): the template's dark-mode rules applied whatever the
    viewer's own setting, and Outlook.com's marker set on the body."""
    darkened = _DARK_QUERY.sub("@media all", html)
    return re.sub(r"<body\b", "<body data-ogsc", darkened, count=1, flags=re.IGNORECASE)


def edition_findings(
    source: WeekSource, segment: str, parts: SegmentParts, settings: Settings
) -> list[Finding]:
    """How the shown message stands to the week's edition: the schedule
    sends a built edition as it was built, so a template or store change
    after the build reaches subscribers only through a rebuild."""
    status = source.edition_status
    if status is None:
        return [Finding(Level.INFO, "edition", "not built yet: this is what a build makes now")]
    if source.delivered:
        message = (
            f"the edition is {status}: this is its render as it goes out; "
            "template and store changes no longer apply"
        )
        return [Finding(Level.INFO, "edition", message)]
    if source.rendered.get(segment) == parts:
        return [Finding(Level.INFO, "edition", f"the built edition ({status}) is this message")]
    again = " (and `digest approve` again)" if settings.digest_require_approval else ""
    if status == EditionStatus.SKIPPED:
        message = (
            "the edition was recorded as skipped (nothing new then), so nothing goes out: "
            f"run `digest build`{again} to send this"
        )
    else:
        message = (
            f"the built edition ({status}) differs from this preview, and the schedule sends "
            f"the built one: run `digest build`{again} to take these changes"
        )
    return [Finding(Level.WARNING, "edition", message)]


def message_findings(
    source: WeekSource, preview: Preview, settings: Settings, spam: list[Finding]
) -> list[Finding]:
    """Everything said of a previewed message: the lint, SpamAssassin's
    ``spam`` findings, and how it stands to the built edition; errors first."""
    return by_level(
        [
            *lint_mail(preview.mail, settings),
            *editorial_findings(
                source.edition_file,
                preview.subject,
                source.previous_subject,
                source.missing,
            ),
            *spam,
            *edition_findings(source, preview.segment, preview.parts, settings),
        ]
    )


@dataclass(frozen=True)
class SegmentLint:
    """One segment's findings (or why it has no message)."""

    segment: str
    findings: tuple[Finding, ...]
    nothing: str | None = None  # NothingToPreview's reason


@dataclass(frozen=True)
class EditionLint:
    """Every segment's lint, and the link check's (links are shared)."""

    segments: tuple[SegmentLint, ...]
    links: tuple[Finding, ...] = ()  # of every segment's links, each fetched once

    @property
    def findings(self) -> list[Finding]:
        """Every finding, segment by segment, then the links'."""
        return [*(f for s in self.segments for f in s.findings), *self.links]


def lint_edition(
    source: WeekSource,
    segments: Sequence[str],
    renderer: Renderer,
    settings: Settings,
    *,
    spam: bool = True,
    links: bool = False,
) -> EditionLint:
    """The lint of each segment's message for the sample reader; with
    ``spam``, SpamAssassin's too when installed (two at a time: each takes
    about a second); with ``links``, every link fetched once."""
    previews: dict[str, Preview] = {}
    empty: dict[str, str] = {}
    for segment in segments:
        try:
            previews[segment] = compose_preview(source, segment, renderer, settings)
        except NothingToPreview as error:
            empty[segment] = str(error)
    spam_by_segment: dict[str, list[Finding]] = {key: [] for key in previews}
    if spam:
        with ThreadPoolExecutor(2) as pool:
            found = pool.map(lambda p: spam_check_findings(p.raw), previews.values())
            spam_by_segment = dict(zip(previews, found, strict=True))
    checked: list[Finding] = []
    if links:
        urls = dict.fromkeys(url for p in previews.values() for url in links_of(p.mail))
        checked = check_links(urls, settings)
    results = []
    for key in segments:
        if key in empty:
            results.append(SegmentLint(key, (), empty[key]))
            continue
        found = message_findings(source, previews[key], settings, spam_by_segment[key])
        results.append(SegmentLint(key, tuple(found)))
    return EditionLint(tuple(results), tuple(checked))
