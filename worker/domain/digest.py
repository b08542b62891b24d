"""The digest as plain data: what gather produces and render consumes.

Nothing here touches the store or the network. Per-recipient links are not
part of a digest: render writes placeholders (see :mod:`worker.domain.placeholders`)
that the composer fills in for each recipient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from worker.domain.urls import archive_launches_url, archive_url


@dataclass(frozen=True)
class SeatVerdict:
    """One seat's verdict in a tool's reviewer split."""

    seat: str  # builder, skeptic, buyer, futurist
    verdict: str  # ship or skip


@dataclass(frozen=True)
class Figures:
    """A tool's verdict figures, as the verdict table shows them.

    A percent is None when there is nothing to count; render shows "—".
    """

    panel_ship: int | None
    panel_ships: int
    panel_reviews: int
    community: int | None
    community_ships: int
    community_votes: int
    entry: str | None
    split: tuple[SeatVerdict, ...]


@dataclass(frozen=True)
class PullQuote:
    seat: str
    verdict: str
    text: str


@dataclass(frozen=True)
class ToolColumn:
    """A tool as one column of a comparison's verdict table."""

    tool_id: int
    slug: str
    name: str
    vendor: str | None
    category: str | None
    tagline: str | None
    url: str | None
    figures: Figures
    quote: PullQuote | None
    # Every review's quote, whole, in seat order: the site's page of a
    # comparison shows them all; an email shows ``quote``.
    quotes: tuple[PullQuote, ...] = ()


@dataclass(frozen=True)
class ComparisonBlock:
    """A published comparison with its verdict table."""

    slug: str
    title: str
    summary: str | None
    url: str
    category: str | None  # the category of its first tool
    tools: tuple[ToolColumn, ...]


@dataclass(frozen=True)
class Launch:
    """A tool launched this week that no comparison of the week covers."""

    tool_id: int
    slug: str
    name: str
    vendor: str | None
    category: str | None
    tagline: str | None
    entry: str | None
    url: str | None
    launched_on: dt.date | None
    feed_id: int | None = None  # the feed it came from; None when an editor imported it


@dataclass(frozen=True)
class Digest:
    """A week's digest for one segment (or for everyone, before segmenting)."""

    list_name: str
    week: str  # ISO week, "2026-W48"
    starts_on: dt.date  # the Monday
    ends_on: dt.date  # the Sunday
    site_url: str
    postal_address: str
    # The site's page on how the panel judges (METHOD_URL); None: not linked.
    method_url: str | None = None
    comparisons: tuple[ComparisonBlock, ...] = ()
    launches: tuple[Launch, ...] = ()
    categories: tuple[str, ...] = field(default=())  # the segment's choice; () = all
    # At most this many launches are shown (DIGEST_MAX_LAUNCHES); None: all.
    max_launches: int | None = None
    # Launches of the week left out of ``launches`` by that cap (see
    # worker.domain.launches); render sets it, after narrowing to a segment.
    more_launches: int = 0
    # What the week's edition file sets (worker.domain.editorial.shape):
    # the intro in Markdown, and a subject and preheader in place of the
    # computed ones. None: as computed, no intro.
    intro: str | None = None
    subject: str | None = None
    preheader: str | None = None
    # The launches the edition file's ``order`` names (tool ids, in its
    # order): kept by the cap before any other, and shown first.
    picks: tuple[int, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.comparisons and not self.launches and not self.more_launches

    @property
    def launch_count(self) -> int:
        """Every launch of the week (of the segment): shown and left out."""
        return len(self.launches) + self.more_launches

    @property
    def archive_url(self) -> str:
        return archive_url(self.site_url, self.week)

    @property
    def launches_url(self) -> str:
        """Where every launch of the week is listed, for those left out."""
        return archive_launches_url(self.site_url, self.week)


@dataclass(frozen=True)
class Notice:
    """A one-off message to one person (confirm a subscription, already
    subscribed): a heading, a few paragraphs and one action button."""

    subject: str
    preheader: str
    heading: str
    paragraphs: tuple[str, ...]
    action_label: str
    action_url: str
    footnote: str | None = None
