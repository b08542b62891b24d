"""Digest → MJML (Jinja2) → HTML (mjml-python), and the plain-text part.

One render per segment: nothing here knows a recipient. Per-recipient links
are written as the placeholders of :mod:`worker.domain.placeholders`.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import traceback
import xml.parsers.expat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar

import jinja2
import markupsafe
from mjml import mjml2html

from worker.domain import markdown, placeholders
from worker.domain.clicks import ClickLinks
from worker.domain.digest import Digest, Notice
from worker.domain.editorial import WelcomeCopy
from worker.domain.launches import by_category, capped, kept_order, launch_groups
from worker.domain.segments import digest_for_segment
from worker.domain.urls import is_web_url
from worker.domain.verdicts import seat_rows
from worker.errors import RenderError
from worker.render.verdict_text import tool_figures, verdict_table
from worker.render.welcome import LatestEdition, welcome_over

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
NOTICE_HTML_TEMPLATE = "notice.mjml.j2"
NOTICE_TEXT_TEMPLATE = "notice.txt.j2"
WELCOME_HTML_TEMPLATE = "welcome.mjml.j2"
WELCOME_TEXT_TEMPLATE = "welcome.txt.j2"
#: A welcome copy's preview text when it gives none.
WELCOME_PREHEADER = "What every edition brings, and how to vote Ship or Skip."
SUBJECT_LIMIT = 78
# Past this a title is cut: inboxes show far less, and editions store 300.
SUBJECT_MAX = 150
TEXT_WIDTH = 72
# The most HTML a digest is rendered to, when launches can be left out to
# keep to it: under the lint's warning (90 % of Gmail's clip at 102 KB,
# 94,003 bytes), leaving room for the per-recipient links filled in later.
HTML_BUDGET = 90_000

# What the verdict table's rows mean, said once in each digest.
PANEL_EXPLAINED = (
    "Four seats: builder, skeptic, buyer, futurist; each says ship or skip. "
    "Community: readers' Ship/Skip votes."
)

# One palette for light mode, one for dark; templates use them by name.
COLOURS = {
    "page": "#f3f4f6",
    "card": "#ffffff",
    "ink": "#1f2328",
    "muted": "#59636e",
    "link": "#0b57d0",
    "rule": "#e5e7eb",
    "ship": "#116329",
    "ship_bg": "#dafbe1",
    "skip": "#a40e26",
    "skip_bg": "#ffebe9",
    "dark_page": "#0d1117",
    "dark_card": "#161b22",
    "dark_ink": "#e6edf3",
    "dark_link": "#79c0ff",
    "dark_muted": "#9198a1",
    "dark_rule": "#30363d",
    "dark_ship": "#56d364",
    "dark_ship_bg": "#12261e",
    "dark_skip": "#ff7b72",
    "dark_skip_bg": "#2d1416",
}


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    preheader: str
    html: str
    text: str


class Renderer:
    """Renders digests with the templates in ``templates_dir/email``.

    The Jinja2 environments are built once; each :meth:`render` is a pure
    function of the digest.
    """

    def __init__(self, templates_dir: Path) -> None:
        loader = jinja2.FileSystemLoader(templates_dir / "email")
        self._html = _environment(loader, autoescape=True)
        self._text = _environment(loader, autoescape=False)

    def render(self, digest: Digest, clicks: ClickLinks | None = None) -> RenderedDigest:
        """The subject, preheader, HTML and text of ``digest``; its content
        links through ``clicks``' counted redirect when given (the edition's:
        :func:`worker.domain.clicks.edition_links`), as they are otherwise.

        It lists at most ``digest.max_launches`` launches, and fewer when
        more would take the HTML past :data:`HTML_BUDGET` (long names and
        links from a feed); the rest are summarised with a link to the
        archive (:mod:`worker.domain.launches` says which are kept)."""
        if digest.is_empty:
            raise RenderError(f"{digest.week}: nothing to render (no comparisons, no launches)")
        if clicks is not None and clicks.week != digest.week:
            raise RenderError(f"{digest.week}: links signed for the edition of {clicks.week}")
        digest = without_placeholders(digest)
        most = len(digest.launches)
        if digest.max_launches is not None:
            most = min(most, digest.max_launches)
        order = kept_order(digest)  # once, for every cut tried below
        rendered = self._render_parts(capped(digest, most, order), clicks)
        if _fits(rendered) or not most:
            return rendered
        # The most launches that fit, by bisection: a render takes milliseconds.
        fitting, low, high = None, 0, most - 1
        while low <= high:
            middle = (low + high) // 2
            attempt = self._render_parts(capped(digest, middle, order), clicks)
            if _fits(attempt):
                fitting, low = attempt, middle + 1
            else:
                high = middle - 1
        return fitting or self._render_parts(capped(digest, 0, order), clicks)

    def render_segment(
        self, digest: Digest, key: str, clicks: ClickLinks | None = None
    ) -> RenderedDigest | None:
        """``digest`` narrowed to segment ``key`` and rendered (its links
        through ``clicks`` when given); None when that segment gets nothing
        this week. What a build stores and a preview shows."""
        segment = digest_for_segment(digest, key)
        return None if segment.is_empty else self.render(segment, clicks)

    def _render_parts(self, digest: Digest, clicks: ClickLinks | None) -> RenderedDigest:
        subject = subject_for(digest)
        preheader = preheader_for(digest)
        click = clicks.url if clicks is not None else _as_it_is
        intro_link = _intro_link(clicks)
        intro_html = markdown.to_html(digest.intro, intro_link) if digest.intro else ""
        context = {
            "digest": digest,
            "subject": subject,
            "preheader": preheader,
            "more_line": more_launches_line(digest),
            "launch_groups": launch_groups(digest),
            # The editor's intro, checked when the edition file was stored
            # and sanitised again here (worker.domain.markdown).
            "intro_html": markupsafe.Markup(intro_html) if digest.intro else "",
            "intro_text": (
                markdown.to_text(digest.intro, TEXT_WIDTH, intro_link) if digest.intro else ""
            ),
            # click(item, url): a content link, counted for item when
            # CLICK_COUNTS is on (worker.domain.clicks).
            "click": click,
            "week_number": digest.week.split("-W")[1].lstrip("0"),
            "date_range": _date_range(digest),
            "vote_base": f"{digest.site_url}/vote/{placeholders.VOTE_TOKEN}",
            "panel_explained": PANEL_EXPLAINED,
            "unsubscribe_url": placeholders.UNSUBSCRIBE_URL,
            "preferences_url": placeholders.PREFERENCES_URL,
            "c": COLOURS,
        }
        html = self._compile(HTML_TEMPLATE, context)
        text = self._render(self._text, TEXT_TEMPLATE, context)
        return RenderedDigest(
            subject=subject, preheader=preheader, html=isolate_placeholders(html), text=_tidy(text)
        )

    def render_notice(self, notice: Notice, list_name: str, postal_address: str) -> RenderedDigest:
        """The subject, preheader, HTML and text of a one-off ``notice``."""
        context = {
            "notice": notice,
            "list_name": list_name,
            "postal_address": postal_address,
            "c": COLOURS,
        }
        html = self._compile(NOTICE_HTML_TEMPLATE, context)
        text = self._render(self._text, NOTICE_TEXT_TEMPLATE, context)
        return RenderedDigest(notice.subject, notice.preheader, html, _tidy(text))

    def render_welcome(
        self,
        copy: WelcomeCopy,
        list_name: str,
        postal_address: str,
        latest: LatestEdition | None = None,
    ) -> RenderedDigest:
        """The welcome mail: ``copy`` above the ``latest`` edition's stored
        render (its placeholders kept for the composer), or alone before the
        first edition. Its subject and preheader are the copy's, else
        "Welcome to ``list_name``" and :data:`WELCOME_PREHEADER`."""
        copy = without_placeholders(copy)
        subject = welcome_subject(copy, list_name)
        preheader = copy.preheader or WELCOME_PREHEADER
        context = {
            "list_name": list_name,
            "postal_address": postal_address,
            "subject": subject,
            "preheader": preheader,
            # Checked when the copy was stored, sanitised again here.
            "body_html": markupsafe.Markup(markdown.to_html(copy.body)),
            "body_text": markdown.to_text(copy.body, TEXT_WIDTH),
            "with_edition": latest is not None,
            "edition_text": latest.text if latest else "",
            "unsubscribe_url": placeholders.UNSUBSCRIBE_URL,
            "preferences_url": placeholders.PREFERENCES_URL,
            "c": COLOURS,
        }
        html = isolate_placeholders(self._compile(WELCOME_HTML_TEMPLATE, context))
        text = _tidy(self._render(self._text, WELCOME_TEXT_TEMPLATE, context))
        if latest is not None:
            html = welcome_over(latest.html, html)
        return RenderedDigest(subject, preheader, html, text)

    def _compile(self, name: str, context: dict[str, object]) -> str:
        mjml = self._render(self._html, name, context)
        try:
            # fonts={}: no web font links. MJML would link Google Fonts for
            # "Roboto" in the font stack, so every reader's client would call
            # Google; the stack's system fonts serve.
            return str(mjml2html(mjml, disable_comments=True, fonts={}))
        except ValueError as error:
            raise RenderError(f"{name}: MJML did not compile: {error}{_where(mjml)}") from None

    @staticmethod
    def _render(env: jinja2.Environment, name: str, context: dict[str, object]) -> str:
        try:
            return env.get_template(name).render(context)
        except jinja2.TemplateError as error:
            where = f"{getattr(error, 'filename', None) or name}"
            line = getattr(error, "lineno", None)
            raise RenderError(f"{where}{f':{line}' if line else ''}: {error}") from None
        except Exception as error:  # an expression in a template failed (1 + "a")
            raise RenderError(f"{_template_line(error, name)}: {error!r}") from None


def _where(mjml: str) -> str:
    """Where the rendered MJML stops being well-formed, if it does: the line
    and its text, which leads to the template's line (mjml-python's own
    errors have no position). HTML's named entities and unclosed void
    elements (``<meta …>``, ``<br>``) are not XML's, so they are made XML
    first, keeping every line where it is."""
    as_xml = _VOID.sub(r"<\1\2/>", _ENTITY.sub(" ", mjml))
    try:
        xml.parsers.expat.ParserCreate().Parse(as_xml, True)
    except xml.parsers.expat.ExpatError as error:
        line = mjml.splitlines()[error.lineno - 1] if error.lineno else ""
        problem = xml.parsers.expat.errors.messages[error.code]
        place = f"rendered MJML line {error.lineno}, column {error.offset + 1}"
        return f" ({place}: {problem}: {line.strip()[:120]!r})"
    return ""


_ENTITY = re.compile(r"&[A-Za-z][A-Za-z0-9]*;")
_VOID = re.compile(
    r"<(area|base|br|col|embed|hr|img|input|link|meta|source|wbr)\b([^>]*?)/?>", re.I
)


def _template_line(error: BaseException, name: str) -> str:
    """Where in a template ``error`` was raised: Jinja2 puts the template's
    file and line into the traceback's frames."""
    found = name
    for frame, line in traceback.walk_tb(error.__traceback__):
        filename = frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = f"{filename}:{line}"
    return found


# An attribute whose value holds a per-recipient placeholder.
_LINK_ATTRIBUTE = re.compile(r'\s(href="[^"\n]*%%[a-z_]+%%[^"\n]*")(?=[\s>])')


def isolate_placeholders(html: str) -> str:
    """Put each attribute that holds a placeholder on a line of its own.

    Newlines between attributes are plain HTML whitespace. The composer
    encodes bodies line by line, so only these short lines change from one
    recipient to the next and the rest is encoded once per segment.
    """
    return _LINK_ATTRIBUTE.sub(lambda m: f"\n{m[1]}\n", html)


T = TypeVar("T")


def without_placeholders(value: T) -> T:
    """``value`` with every ``%%`` in its strings broken up (``%25%25``).

    Content (a feed entry's link, a tool's name) must never pose as a
    per-recipient placeholder: the composer would fill it with the reader's
    own signed links and hand them to whoever wrote the content.
    """
    if isinstance(value, str):
        return value.replace("%%", "%25%25")  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(without_placeholders(item) for item in value)  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: without_placeholders(getattr(value, f.name)) for f in fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def _as_it_is(_item: str, url: str) -> str:
    return url


def _intro_link(clicks: ClickLinks | None) -> markdown.LinkWriter | None:
    """How the intro's links are written: the N-th counted as ``intro:N``."""
    if clicks is None:
        return None
    return lambda number, url: clicks.url(f"intro:{number}", url)


def _fits(rendered: RenderedDigest) -> bool:
    return len(rendered.html.encode("utf-8")) <= HTML_BUDGET


def subject_for(digest: Digest) -> str:
    """The first comparison's title and how many more verdicts; otherwise the
    count of the week's launches (all of them, shown or left out by the cap).
    Kept within 78 characters where the title allows, and never over 150.
    An edition file's subject, when it gives one, is taken as it is."""
    if digest.subject:
        return digest.subject
    launches = digest.launch_count
    if not digest.comparisons:
        return f"{launches:,} new AI tool{'s' if launches != 1 else ''} this week"
    title = digest.comparisons[0].title
    more = len(digest.comparisons) - 1
    if more:
        longer = f"{title} + {more} more comparison{'s' if more != 1 else ''}"
        if len(longer) <= SUBJECT_LIMIT:
            return longer
    if len(title) > SUBJECT_MAX:
        return title[: SUBJECT_MAX - 1].rsplit(" ", 1)[0].rstrip(" ,;:–-") + "…"
    return title


def preheader_for(digest: Digest) -> str:
    """One line that inboxes show after the subject: the edition file's,
    else the week's counts."""
    if digest.preheader:
        return digest.preheader
    parts = []
    if digest.comparisons:
        n = len(digest.comparisons)
        parts.append(f"panel verdicts on {n} comparison{'s' if n != 1 else ''}")
    if digest.launch_count:
        n = digest.launch_count
        parts.append(f"{n:,} new launch{'es' if n != 1 else ''}")
    summary = " and ".join(parts)
    return (
        f"{summary[0].upper()}{summary[1:]}, week of {digest.starts_on:%b} {digest.starts_on.day}."
    )


def welcome_subject(copy: WelcomeCopy, list_name: str) -> str:
    """The welcome mail's subject: the copy's, else "Welcome to ``list_name``"."""
    return copy.subject or f"Welcome to {list_name}"


def more_launches_line(digest: Digest) -> str:
    """What the digest says of the launches the cap left out ("" if none);
    the link to the archive's list follows it."""
    n = digest.more_launches
    if not n:
        return ""
    which = "in your categories " if digest.categories else ""
    noun = f"launch{'es' if n != 1 else ''}"
    if digest.launches:
        return f"And {n:,} more {noun} {which}this week."
    return f"{n:,} {noun} {which}this week."


def _environment(loader: jinja2.BaseLoader, *, autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=not autoescape,
        lstrip_blocks=not autoescape,
    )
    env.filters["percent"] = _percent
    env.filters["web_url"] = lambda url: bool(url) and is_web_url(url)
    # The digest templates list launch_groups; templates of one's own
    # (TEMPLATES_DIR) may still group launches by category themselves.
    env.filters["groupby_category"] = by_category
    env.filters["thousands"] = "{:,}".format
    env.filters["wrap"] = _wrap
    env.filters["seat_rows"] = seat_rows
    env.filters["verdict_table"] = lambda block: verdict_table(block, TEXT_WIDTH)
    env.filters["tool_figures"] = lambda tool, seats, index: tool_figures(
        tool, seats, index, TEXT_WIDTH
    )
    return env


def _percent(value: int | None) -> str:
    return "—" if value is None else f"{value}%"


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width=TEXT_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _date_range(digest: Digest) -> str:
    start, end = digest.starts_on, digest.ends_on
    if start.month == end.month:
        return f"{start:%b} {start.day} – {end.day}, {end.year}"
    if start.year == end.year:
        return f"{start:%b} {start.day} – {end:%b} {end.day}, {end.year}"
    return f"{start:%b} {start.day}, {start.year} – {end:%b} {end.day}, {end.year}"


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy).strip("\n") + "\n"
