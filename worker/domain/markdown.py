"""Editors' Markdown (an edition's intro, the welcome copy): checked, then
turned into e-mail-safe HTML and into readable plain text.

CommonMark through markdown-it-py, with raw HTML off: an editor writes
Markdown, and a ``<script>`` in it is an error with its line, never markup.
The HTML is sanitised again with nh3 (links and images https only), so what
reaches a reader is the allow-list below whatever the parser lets through.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from html import escape, unescape

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

#: What an intro may hold once rendered; everything else is dropped.
ALLOWED_TAGS = frozenset(
    {"p", "br", "strong", "em", "a", "ul", "ol", "li", "code", "blockquote", "h2", "h3", "img"}
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width"}}
URL_SCHEMES = frozenset({"https"})

_WORD = re.compile(r"\w+(?:['’]\w+)*")
# A tag, or an HTML comment (which would be shown, not hidden).
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^>]*)?/?>|<!--")
_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
# Every link is parsed as a link, whatever its scheme, so that
# :func:`problems` can name a javascript: one; nh3 drops what is not https.
_PARSER.validateLink = lambda url: True  # type: ignore[method-assign]


@dataclass(frozen=True)
class MarkdownProblem:
    """Something in an editor's Markdown that is refused: 1-based ``line``
    within the Markdown text, and what is wrong."""

    line: int
    message: str


def problems(text: str) -> list[MarkdownProblem]:
    """What in ``text`` is refused: raw HTML (it would be shown as text, so
    it is surely a mistake, or an attack) and links or images that are not
    https."""
    found: list[MarkdownProblem] = []
    for token, line in _walk(_PARSER.parse(text)):
        if token.type in ("html_block", "html_inline"):
            snippet = token.content.strip().splitlines()[0][:60] if token.content.strip() else ""
            found.append(
                MarkdownProblem(line, f"HTML is not accepted ({snippet}): write Markdown instead")
            )
        elif token.type == "text" and "<" in token.content and _looks_like_tag(token.content):
            found.append(
                MarkdownProblem(
                    line, f"HTML is not accepted ({token.content.strip()[:60]}): write Markdown"
                )
            )
        elif token.type in ("link_open", "image"):
            attribute = "href" if token.type == "link_open" else "src"
            url = str(token.attrGet(attribute) or "")
            if not url.lower().startswith("https://"):
                what = "a link" if token.type == "link_open" else "an image"
                found.append(MarkdownProblem(line, f"{what} must be https: {url[:80]!r}"))
    return found


def _looks_like_tag(content: str) -> bool:
    # With html off, markdown-it hands a tag back as text; an angle bracket
    # in prose ("a < b") is not one.
    return _TAG.search(content) is not None


def _walk(tokens: list[Token], line: int = 1) -> list[tuple[Token, int]]:
    """Every token with the 1-based line it starts on (inline children take
    their block's line, moved on by the soft breaks before them)."""
    out: list[tuple[Token, int]] = []
    for token in tokens:
        at = token.map[0] + 1 if token.map else line
        if token.children:
            child_line = at
            for child in token.children:
                if child.type in ("softbreak", "hardbreak"):
                    child_line += 1
                out.append((child, child_line))
        else:
            out.append((token, at))
    return out


#: How a link's target is written: given its number (the https links
#: counted from 1, in order) and its URL, the URL to write.
LinkWriter = Callable[[int, str], str]

# A link as nh3 writes it: the href first, double-quoted, HTML-escaped.
_HREF = re.compile(r'<a href="([^"]*)"')


def to_html(text: str, link: LinkWriter | None = None) -> str:
    """``text`` as sanitised HTML for an e-mail: links and images https only,
    links opened without a referrer; each link's target as ``link`` writes
    it, when given (after sanitising: the target it writes may be http, a
    development site's redirect)."""
    rendered = _PARSER.render(text)
    clean = nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    ).strip()
    if link is None:
        return clean
    numbers = itertools.count(1)
    return _HREF.sub(
        lambda found: f'<a href="{escape(link(next(numbers), unescape(found[1])))}"', clean
    )


def to_text(text: str, width: int = 72, link: LinkWriter | None = None) -> str:
    """``text`` as plain text for the text part: paragraphs wrapped at
    ``width``, lists with ``-`` or ``1.``, and each link's URL as a numbered
    footnote (``[1]``) listed after the text; written by ``link`` when
    given, with the same numbers as :func:`to_html` gives it."""
    writer = _TextWriter(width)
    writer.feed(_PARSER.parse(text))
    return writer.result(link)


class _TextWriter:
    def __init__(self, width: int) -> None:
        self.width = width
        self.blocks: list[str] = []
        self.listed: dict[int, int] = {}  # the blocks that are list items: their list's number
        self.list_count = 0
        self.links: list[str] = []
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.quote = 0
        self.prefix = ""

    def feed(self, tokens: list[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind == "bullet_list_open":
                self._open_list([])
            elif kind == "ordered_list_open":
                self._open_list([int(token.attrGet("start") or 1)])
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
            elif kind == "list_item_open":
                numbers = self.lists[-1]
                if numbers:
                    self.prefix = f"{numbers[0]}. "
                    numbers[0] += 1
                else:
                    self.prefix = "- "
            elif kind == "blockquote_open":
                self.quote += 1
            elif kind == "blockquote_close":
                self.quote -= 1
            elif kind == "inline":
                self._block(self._inline(token.children or []))
            elif kind in ("code_block", "fence"):
                indent = "    " * (1 + len(self.lists))
                self.blocks.append("\n".join(indent + line for line in token.content.splitlines()))
            elif kind == "hr":
                self.blocks.append("-" * 20)
            elif kind == "heading_close":
                last = self.blocks[-1] if self.blocks else ""
                self.blocks[-1] = f"{last}\n{'-' * min(len(last), self.width)}"

    def _open_list(self, numbers: list[int]) -> None:
        if not self.lists:  # a list in a list is one with it: its items follow tightly
            self.list_count += 1
        self.lists.append(numbers)

    def _inline(self, children: list[Token]) -> str:
        parts: list[str] = []
        hrefs: list[str] = []  # the open links' targets
        for child in children:
            if child.type in ("text", "code_inline"):
                parts.append(child.content)
            elif child.type == "softbreak":
                parts.append(" ")
            elif child.type == "hardbreak":
                parts.append("\n")
            elif child.type == "image":
                parts.append(f"[{child.content or 'image'}]")
            elif child.type == "link_open":
                hrefs.append(str(child.attrGet("href") or ""))
            elif child.type == "link_close" and hrefs:
                href = hrefs.pop()
                if href.lower().startswith("https://"):  # as the HTML part keeps
                    self.links.append(href)
                    parts.append(f" [{len(self.links)}]")
        return "".join(parts)

    def _block(self, content: str) -> None:
        depth = len(self.lists)
        quote = "> " * self.quote
        if self.prefix:
            first = quote + "  " * (depth - 1) + self.prefix
            self.prefix = ""
            rest = quote + " " * len(first.removeprefix(quote))
        else:
            first = rest = quote + "  " * depth
        lines = []
        for index, paragraph in enumerate(content.split("\n")):
            lines.append(
                textwrap.fill(
                    paragraph,
                    width=self.width,
                    initial_indent=first if index == 0 else rest,
                    subsequent_indent=rest,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
        self.blocks.append("\n".join(lines))
        if depth:
            self.listed[len(self.blocks) - 1] = self.list_count

    def result(self, link: LinkWriter | None = None) -> str:
        text = ""
        for index, block in enumerate(self.blocks):
            if not block.strip():
                continue
            # A list's items are one line apart, other blocks (and the
            # next list) a blank line.
            tight = index in self.listed and self.listed.get(index - 1) == self.listed[index]
            gap = "\n" if tight else "\n\n"
            text = f"{text}{gap}{block}" if text else block
        if self.links:
            write = link or (lambda _n, url: url)
            notes = "\n".join(f"[{n}] {write(n, url)}" for n, url in enumerate(self.links, 1))
            text = f"{text}\n\n{notes}"
        return text


@dataclass(frozen=True)
class Outline:
    """What a lint needs of an editor's Markdown: its words, and its links
    and images with their lines (1-based, within the Markdown)."""

    words: int
    links: tuple[tuple[int, str, str], ...]  # line, text, href
    images: tuple[tuple[int, str, str], ...]  # line, alt, src


def outline(text: str) -> Outline:
    """The words, links and images of ``text``."""
    words = 0
    links: list[tuple[int, str, str]] = []
    images: list[tuple[int, str, str]] = []
    open_links: list[tuple[int, str, list[str]]] = []  # line, href, text so far
    for token, line in _walk(_PARSER.parse(text)):
        if token.type in ("text", "code_inline"):
            words += len(_WORD.findall(token.content))
            for _, _, parts in open_links:
                parts.append(token.content)
        elif token.type == "link_open":
            open_links.append((line, str(token.attrGet("href") or ""), []))
        elif token.type == "link_close" and open_links:
            at, href, parts = open_links.pop()
            links.append((at, "".join(parts).strip(), href))
        elif token.type == "image":
            images.append((line, token.content, str(token.attrGet("src") or "")))
            for _, _, parts in open_links:
                parts.append(token.content)
    return Outline(words, tuple(links), tuple(images))
