"""The digest lint: what an inbox would hold against a composed message.

Every check reads the bytes that are sent (never a re-render), parsed once
by :mod:`worker.editor.lint.message`: the headers, the text/plain part and
the text/html part, scanned in one pass by :mod:`worker.editor.lint.htmlscan`.
No network, no subprocess: the link check (:mod:`worker.editor.lint.linkcheck`)
and SpamAssassin (:mod:`worker.editor.lint.spamcheck`) live apart and give
:class:`Finding` too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from worker.config import Settings
from worker.domain.urls import is_web_url
from worker.editor.lint.message import Mail, read_message
from worker.render.renderer import HTML_BUDGET


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str  # short id, one of CHECKS
    message: str  # one line, naming the place (the image src, the URL, the missing text…)


# The short ids of every check, as `digest lint --json` gives them (and
# docs/preview.md lists them): what a script may match on.
CHECKS = (
    "html-part",
    "size",
    "launches",
    "image-alt",
    "image-width",
    "link-scheme",
    "unsubscribe",
    "postal-address",
    "preview-text",
    "subject",
    "text-part",
    "link-check",
    "spam",
    "edition",
    "intro",
    "edition-file",
)

GMAIL_CLIP_BYTES = 102 * 1024
# Past about this, phone inboxes cut a subject (desktop ones show ~78).
SUBJECT_WARN = 70
# Past this share of the clipping limit, a little more content clips the message.
SIZE_WARNING_SHARE = 0.9
# An HTML block shorter than this (a button, a figure) need not be in the text part.
MIN_BLOCK_WORDS = 4
MISSING_BLOCKS_LISTED = 5
_SHOWN_CHARS = 80

_LEVEL_RANK = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}
_PLACEHOLDER = re.compile(r"%%[A-Za-z0-9_]+%%")
_WORD = re.compile(r"\w+")
_URL = re.compile(r"\b(?:https?|mailto):\S+", re.IGNORECASE)
_LINK_SCHEMES_OK = frozenset(("https", "mailto", "tel"))
_IMAGE_SCHEMES_OK = frozenset(("https", "cid"))
# The summary of the launches a cap left out, as templates/email/digest.mjml.j2
# writes it; its attributes cannot come from content, which is escaped.
_MORE_LAUNCHES = re.compile(
    r'<p class="more-launches" data-shown="(?P<shown>\d+)" data-more="(?P<more>\d+)"'
)


def lint_message(raw: bytes, settings: Settings) -> list[Finding]:
    """The fast checks (no network, no subprocess), errors first, then warnings, then info."""
    return lint_mail(read_message(raw), settings)


def lint_mail(mail: Mail, settings: Settings) -> list[Finding]:
    """:func:`lint_message` of a message already parsed."""
    findings = [finding for check in _CHECK_FUNCTIONS for finding in check(mail, settings)]
    return by_level(dict.fromkeys(findings))  # one of each, in first-seen order


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any of ``findings`` is an error."""
    return any(finding.level is Level.ERROR for finding in findings)


def by_level(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` errors first, then warnings, then info; in their order within a level."""
    return sorted(findings, key=lambda finding: _LEVEL_RANK[finding.level])


# The checks: each takes the parsed message and the settings.


def _html_part(mail: Mail, settings: Settings) -> list[Finding]:
    if mail.html is None:
        return [Finding(Level.ERROR, "html-part", "the message has no text/html part")]
    if not mail.html.strip():
        return [Finding(Level.ERROR, "html-part", "the HTML part is empty")]
    return []


def _size(mail: Mail, settings: Settings) -> list[Finding]:
    if mail.html is None:
        return []
    size = len(mail.html.encode("utf-8"))
    limit = f"{GMAIL_CLIP_BYTES:,} bytes (102 KB)"
    if size > GMAIL_CLIP_BYTES:
        return [
            Finding(
                Level.ERROR, "size", f"HTML is {size:,} bytes; Gmail clips messages over {limit}"
            )
        ]
    share = round(100 * size / GMAIL_CLIP_BYTES)
    if size > SIZE_WARNING_SHARE * GMAIL_CLIP_BYTES:
        message = f"HTML is {size:,} bytes, {share} % of the {limit} past which Gmail clips it"
        return [Finding(Level.WARNING, "size", message)]
    return [
        Finding(Level.INFO, "size", f"HTML is {size:,} bytes, {share} % of Gmail's clip at {limit}")
    ]


def _launches(mail: Mail, settings: Settings) -> list[Finding]:
    found = _MORE_LAUNCHES.search(mail.html or "")
    if found is None:
        return []
    shown, more = int(found["shown"]), int(found["more"])
    cap = settings.digest_max_launches
    why = f"DIGEST_MAX_LAUNCHES is {cap}"
    if shown < cap:
        why += f"; fewer fit in the HTML budget of {HTML_BUDGET:,} bytes"
    message = (
        f"launches capped: {more:,} of {shown + more:,} left out ({why}), "
        "summarised with a link to the archive's list"
    )
    return [Finding(Level.WARNING, "launches", message)]


def _image_alt(mail: Mail, settings: Settings) -> list[Finding]:
    if mail.scan is None:
        return []
    findings = [
        Finding(Level.ERROR, "image-alt", f"image without alt text: {_shown(image.src)}")
        for image in mail.scan.images
        if image.alt is None
    ]
    for anchor in mail.scan.anchors:
        if anchor.text or any((image.alt or "").strip() for image in anchor.images):
            continue
        findings.extend(
            Finding(
                Level.WARNING,
                "image-alt",
                f"image with empty alt is a link's only content, so the link has no name: "
                f"{_shown(image.src)} (links to {_shown(anchor.href)})",
            )
            for image in anchor.images
            if image.alt is not None
        )
    return findings


def _image_width(mail: Mail, settings: Settings) -> list[Finding]:
    if mail.scan is None:
        return []
    return [
        Finding(
            Level.WARNING,
            "image-width",
            f"image without a width attribute (Outlook shows it at its natural size): "
            f"{_shown(image.src)}",
        )
        for image in mail.scan.images
        if not (image.width or "").strip()
    ]


def _link_scheme(mail: Mail, settings: Settings) -> list[Finding]:
    findings = [
        Finding(Level.ERROR, "link-scheme", f"leftover placeholder {mark} in the {part} part")
        for part, body in (("HTML", mail.html), ("text", mail.text))
        for mark in dict.fromkeys(_PLACEHOLDER.findall(body or ""))
    ]
    if mail.scan is None:
        return findings
    plain: dict[tuple[str, str], list[str]] = defaultdict(list)
    for anchor in mail.scan.anchors:
        if anchor.href is None:
            continue
        href = anchor.href.strip()
        scheme = _scheme(href)
        named = f"link “{_shown(anchor.text)}”" if anchor.text else "link"
        if not href or href.startswith("#"):
            problem = "goes nowhere"
        elif scheme is None:
            problem = "is not a valid URL"
        elif scheme == "javascript":
            problem = "runs JavaScript, which no mail client does"
        elif not scheme:
            problem = "is relative; a mail client has no page to resolve it against"
        elif scheme == "http":
            plain[("link", _origin(href))].append(href)
            continue
        elif scheme in _LINK_SCHEMES_OK:
            continue
        else:
            problem = f"has the {scheme}: scheme, which mail clients do not open"
        findings.append(Finding(Level.ERROR, "link-scheme", f"{named} {problem}: href={href!r}"))
    for image in mail.scan.images:
        src = (image.src or "").strip()
        scheme = _scheme(src)
        if scheme == "http":
            plain[("image", _origin(src))].append(src)
        elif scheme not in _IMAGE_SCHEMES_OK:
            message = f"image src is not an https URL, so it does not load: {_shown(src)}"
            findings.append(Finding(Level.ERROR, "link-scheme", message))
    for (kind, origin), urls in plain.items():
        count = len(urls)
        many = count != 1
        where = "to" if kind == "link" else "from"
        message = (
            f"{count} {kind}{'s' if many else ''} {where} {origin} {'are' if many else 'is'} "
            f"not https (e.g. {_shown(urls[0])})"
        )
        findings.append(Finding(Level.WARNING, "link-scheme", message))
    return findings


def _unsubscribe(mail: Mail, settings: Settings) -> list[Finding]:
    findings = []
    post = mail.message["List-Unsubscribe-Post"]
    if post is None:
        findings.append(Finding(Level.ERROR, "unsubscribe", "no List-Unsubscribe-Post header"))
    elif str(post).strip() != "List-Unsubscribe=One-Click":
        message = f"List-Unsubscribe-Post is {str(post)!r}, not 'List-Unsubscribe=One-Click'"
        findings.append(Finding(Level.ERROR, "unsubscribe", message))
    header = mail.message["List-Unsubscribe"]
    if header is None:
        return [Finding(Level.ERROR, "unsubscribe", "no List-Unsubscribe header"), *findings]
    web = [uri for uri in re.findall(r"<([^<>\s]+)>", str(header)) if is_web_url(uri)]
    if not web:
        message = f"List-Unsubscribe has no https URL: {str(header)!r}"
        return [Finding(Level.ERROR, "unsubscribe", message), *findings]
    url = web[0]
    if urlsplit(url).scheme.lower() != "https":
        message = f"List-Unsubscribe's URL is not https, as one-click unsubscribe needs: {url}"
        findings.append(Finding(Level.WARNING, "unsubscribe", message))
    if mail.scan is not None and not any(
        anchor.visible and (anchor.href or "").strip() == url for anchor in mail.scan.anchors
    ):
        message = f"no unsubscribe link in the HTML (an <a> to List-Unsubscribe's {url})"
        findings.append(Finding(Level.ERROR, "unsubscribe", message))
    if (mail.text or "").strip() and not _mentions(mail.text or "", url):
        message = f"no unsubscribe link in the text part (List-Unsubscribe's {url})"
        findings.append(Finding(Level.ERROR, "unsubscribe", message))
    return findings


def _postal_address(mail: Mail, settings: Settings) -> list[Finding]:
    address = " ".join(settings.postal_address.split())
    if not address:
        return [Finding(Level.ERROR, "postal-address", "POSTAL_ADDRESS is not set")]
    # Compared word by word, so a line break for a comma still counts.
    words = _words(address)
    findings = []
    if mail.scan is not None and not _contains(_words(mail.scan.visible_text), words):
        message = f"the postal address is not in the HTML's visible text: “{address}”"
        findings.append(Finding(Level.ERROR, "postal-address", message))
    if (mail.text or "").strip() and not _contains(_words(mail.text or ""), words):
        message = f"the postal address is not in the text part: “{address}”"
        findings.append(Finding(Level.ERROR, "postal-address", message))
    return findings


def _preview_text(mail: Mail, settings: Settings) -> list[Finding]:
    if mail.scan is None:
        return []
    if mail.scan.preheader is None:
        message = "no preview text: inboxes show the body's first words after the subject"
        return [Finding(Level.WARNING, "preview-text", message)]
    return [Finding(Level.INFO, "preview-text", f"preview text: “{_shown(mail.scan.preheader)}”")]


def _subject(mail: Mail, settings: Settings) -> list[Finding]:
    subject = mail.subject.strip()
    if not subject:
        return [Finding(Level.ERROR, "subject", "the subject is empty")]
    length = len(subject)
    if length > SUBJECT_WARN:
        message = (
            f"the subject is {length} characters; phones cut it after about {SUBJECT_WARN}: "
            f"“{subject}”"
        )
        return [Finding(Level.WARNING, "subject", message)]
    return [Finding(Level.INFO, "subject", f"the subject is {length} characters: “{subject}”")]


def _text_part(mail: Mail, settings: Settings) -> list[Finding]:
    if mail.text is None:
        return [Finding(Level.ERROR, "text-part", "the message has no text/plain part")]
    if not mail.text.strip():
        return [Finding(Level.ERROR, "text-part", "the text part is empty")]
    if mail.scan is None:
        return []
    text_words = _words(mail.text)
    missing = [
        block
        for block in dict.fromkeys(mail.scan.blocks)
        if len(block_words := _words(block)) >= MIN_BLOCK_WORDS
        and not _contains(text_words, block_words)
    ]
    findings = [
        Finding(Level.WARNING, "text-part", f"the text part lacks “{_shown(block)}”")
        for block in missing[:MISSING_BLOCKS_LISTED]
    ]
    if len(missing) > MISSING_BLOCKS_LISTED:
        more = len(missing) - MISSING_BLOCKS_LISTED
        message = f"and {more} more HTML text block{'s' if more != 1 else ''} the text part lacks"
        findings.append(Finding(Level.WARNING, "text-part", message))
    links = [
        href
        for href in dict.fromkeys((anchor.href or "").strip() for anchor in mail.scan.anchors)
        if is_web_url(href) and not _mentions(mail.text, href)
    ]
    if links:
        many = len(links) != 1
        message = (
            f"{len(links)} link{'s' if many else ''} of the HTML {'are' if many else 'is'} "
            f"not in the text part (e.g. {_shown(links[0])})"
        )
        findings.append(Finding(Level.WARNING, "text-part", message))
    return findings


_CHECK_FUNCTIONS: tuple[Callable[[Mail, Settings], list[Finding]], ...] = (
    _html_part,
    _size,
    _launches,
    _image_alt,
    _image_width,
    _link_scheme,
    _unsubscribe,
    _postal_address,
    _preview_text,
    _subject,
    _text_part,
)


def _words(text: str) -> list[str]:
    """Casefolded words without punctuation or URLs, for comparing the two
    parts: where the HTML has a button ("Ship it"), the text part has its
    label and then its URL ("Ship it: https://…")."""
    return _WORD.findall(_URL.sub(" ", text).casefold())


def _contains(words: list[str], run: list[str]) -> bool:
    """Whether ``run`` occurs in ``words``, its words next to each other."""
    return f" {' '.join(run)} " in f" {' '.join(words)} "


def _mentions(text: str, url: str) -> bool:
    """Whether ``url`` is in ``text``, whole (not the start of a longer URL)."""
    return re.search(re.escape(url) + r"(?=$|[\s<>\"'()\[\].,;:!?])", text) is not None


def _scheme(url: str) -> str | None:
    """``url``'s scheme, lowercased ("" for a relative URL); None when it
    does not parse (``http://[oops/``)."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc}"


def _shown(text: str | None) -> str:
    """``text`` cut to fit a one-line message."""
    text = " ".join((text or "").split()) or "(none)"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
