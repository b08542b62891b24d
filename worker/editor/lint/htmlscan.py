"""One pass over an HTML body: its links, images, visible text by block,
and the hidden preview text at its top (what the lint reads of the HTML).

The standard library's parser, entities decoded; mso conditional comments
are comments to it, so Outlook-only markup is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Preheader padding: zero-width characters some templates repeat after the text.
_INVISIBLE = re.compile("[\u00ad\u034f\u200b-\u200d\u2060\ufeff]")
_VOID = re.compile(r"area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr")
_BLOCK = re.compile(
    r"h[1-6]|address|article|blockquote|body|br|center|div|footer|header|hr|li|ol|p|pre"
    r"|section|table|tbody|td|tfoot|th|thead|tr|ul"
)
# Elements whose content is never shown.
_UNSHOWN = frozenset(("head", "script", "style", "template", "title"))


@dataclass
class Image:
    """An ``<img>``'s attributes as written (None: absent)."""

    src: str | None
    alt: str | None
    width: str | None


@dataclass
class Anchor:
    """An ``<a>``: its href, whether it is shown, its words and images."""

    href: str | None  # None: no href attribute (a named anchor)
    visible: bool
    words: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The link's words, as a reader sees them."""
        return " ".join(" ".join(self.words).split())


@dataclass
class HtmlScan:
    """What the lint needs of an HTML body, from one pass."""

    anchors: list[Anchor] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # hrefs and image srcs, in document order
    blocks: list[str] = field(default_factory=list)  # visible text of each block element
    preheader: str | None = None

    @property
    def visible_text(self) -> str:
        """Every shown block's text, in order."""
        return " ".join(self.blocks)


def scan_html(html: str) -> HtmlScan:
    """One pass over ``html`` (entities decoded; mso conditional comments are
    comments, so Outlook-only markup is skipped)."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.result


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.result = HtmlScan()
        # Open elements, each with whether it hides its content; unclosed
        # ones (<p>, <td>) are popped with the element that contains them.
        self._open: list[tuple[str, bool]] = []
        self._hiding = 0
        self._block: list[str] = []
        self._anchor: Anchor | None = None
        self._preheader: list[str] | None = None
        self._preheader_depth = 0
        self._preheader_decided = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if _BLOCK.fullmatch(tag):
            self._flush()
        if tag == "a":
            href = values.get("href")
            self._anchor = Anchor(href, visible=not self._hiding)
            self.result.anchors.append(self._anchor)
            if href is not None:
                self.result.urls.append(href)
        elif tag == "img":
            image = Image(values.get("src"), values.get("alt"), values.get("width"))
            self.result.images.append(image)
            if image.src is not None:
                self.result.urls.append(image.src)
            if self._anchor is not None:
                self._anchor.images.append(image)
        if _VOID.fullmatch(tag):
            return
        hides = (
            tag in _UNSHOWN
            or "hidden" in values
            or bool(_HIDDEN_STYLE.search(values.get("style", "")))
        )
        self._open.append((tag, hides))
        self._hiding += hides
        if tag == "div" and hides and not self._preheader_decided and not self._in("head"):
            self._preheader, self._preheader_depth = [], len(self._open)
            self._preheader_decided = True

    def handle_endtag(self, tag: str) -> None:
        if _BLOCK.fullmatch(tag):
            self._flush()
        if tag == "a":
            self._anchor = None
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                for _, hides in self._open[depth:]:
                    self._hiding -= hides
                del self._open[depth:]
                break
        if self._preheader is not None and len(self._open) < self._preheader_depth:
            text = _INVISIBLE.sub("", " ".join(self._preheader))
            self.result.preheader = " ".join(text.split()) or None
            self._preheader = None

    def handle_data(self, data: str) -> None:
        if self._preheader is not None:
            self._preheader.append(data)
        if self._hiding:
            return
        self._block.append(data)
        if self._anchor is not None:
            self._anchor.words.append(data)
        if data.strip():
            # Text before any hidden div: the body has no preheader at its top.
            self._preheader_decided = True

    def close(self) -> None:
        super().close()
        self._flush()

    def _in(self, tag: str) -> bool:
        return any(name == tag for name, _ in self._open)

    def _flush(self) -> None:
        text = " ".join("".join(self._block).split())
        if text:
            self.result.blocks.append(text)
        self._block = []
