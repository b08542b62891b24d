"""Verdict figures: pure functions over plain values, as DESIGN.md defines them."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from worker.domain.digest import Figures, PullQuote, SeatVerdict, ToolColumn


class Seat(enum.StrEnum):
    """A reviewer's seat on the panel, in the order the page shows them."""

    BUILDER = "builder"
    SKEPTIC = "skeptic"
    BUYER = "buyer"
    FUTURIST = "futurist"


class Verdict(enum.StrEnum):
    SHIP = "ship"
    SKIP = "skip"


SEAT_ORDER = tuple(seat.value for seat in Seat)
SHIP = Verdict.SHIP

# A pull quote is cut at a sentence end near this length, so a comparison
# block stays a few lines tall in the email.
PULL_QUOTE_CHARS = 240


def whole_percent(part: int, whole: int) -> int | None:
    """``part / whole`` as a whole percent (half rounds up), or None when ``whole`` is 0."""
    if whole <= 0:
        return None
    return (200 * part + whole) // (2 * whole)


def figures_for(
    reviews: Sequence[SeatVerdict], vote_verdicts: Iterable[str], entry: str | None
) -> Figures:
    """The verdict table's column for one tool.

    ``reviews`` are the panel's seat verdicts (any order); ``vote_verdicts``
    the community's ship/skip votes.
    """
    split = tuple(sorted(reviews, key=lambda r: _seat_rank(r.seat)))
    ships = sum(1 for r in split if r.verdict == SHIP)
    votes = list(vote_verdicts)
    vote_ships = sum(1 for v in votes if v == SHIP)
    return Figures(
        panel_ship=whole_percent(ships, len(split)),
        panel_ships=ships,
        panel_reviews=len(split),
        community=whole_percent(vote_ships, len(votes)),
        community_ships=vote_ships,
        community_votes=len(votes),
        entry=entry or None,
        split=split,
    )


def pull_quote(quotes: Sequence[tuple[str, str, str]]) -> PullQuote | None:
    """One quote to show for a tool, from ``(seat, verdict, quote)`` triples.

    The first seat (panel order) whose verdict agrees with the panel's
    majority speaks; on a tie the first seat does. Long quotes are cut at a
    sentence end.
    """
    if not quotes:
        return None
    ordered = sorted(quotes, key=lambda q: _seat_rank(q[0]))
    ships = sum(1 for _, verdict, _ in ordered if verdict == SHIP)
    skips = len(ordered) - ships
    majority = SHIP if ships > skips else Verdict.SKIP if skips > ships else None
    seat, verdict, text = next(
        (q for q in ordered if majority is None or q[1] == majority), ordered[0]
    )
    return PullQuote(seat=seat, verdict=verdict, text=shorten_quote(text))


def seat_rows(tools: Sequence[ToolColumn]) -> tuple[tuple[str, tuple[str | None, ...]], ...]:
    """The reviewer-seat rows of a comparison's verdict table: every seat
    that reviewed any of ``tools``, in panel order, with each tool's verdict
    from that seat (None where the seat did not review that tool)."""
    verdicts = [{s.seat: s.verdict for s in tool.figures.split} for tool in tools]
    seats = sorted({seat for tool in verdicts for seat in tool}, key=lambda s: (_seat_rank(s), s))
    return tuple((seat, tuple(tool.get(seat) for tool in verdicts)) for seat in seats)


def shorten_quote(text: str, limit: int = PULL_QUOTE_CHARS) -> str:
    """``text`` cut after the last sentence that ends within ``limit`` characters.

    With no sentence end in reach, it is cut at a word and ends with "…".
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    window = text[: limit + 1]
    cut = max(window.rfind(mark) for mark in (". ", "! ", "? "))
    if cut >= limit // 3:
        return window[: cut + 1]
    return window[: window.rfind(" ")].rstrip(",;") + "…"


def _seat_rank(seat: str) -> int:
    return SEAT_ORDER.index(seat) if seat in SEAT_ORDER else len(SEAT_ORDER)
