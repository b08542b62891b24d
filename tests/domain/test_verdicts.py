"""Verdict figures as DESIGN.md defines them."""

from __future__ import annotations

from tests.support.digests import column
from worker.domain.digest import SeatVerdict
from worker.domain.verdicts import (
    figures_for,
    pull_quote,
    seat_rows,
    shorten_quote,
    whole_percent,
)


def split(*verdicts: str) -> list[SeatVerdict]:
    seats = ["futurist", "buyer", "skeptic", "builder"][-len(verdicts) :][::-1]
    return [SeatVerdict(seat, verdict) for seat, verdict in zip(seats, verdicts, strict=True)]


def test_whole_percent_rounds_half_up_and_is_none_when_empty() -> None:
    assert whole_percent(4, 4) == 100
    assert whole_percent(2, 4) == 50
    assert whole_percent(1, 3) == 33
    assert whole_percent(2, 3) == 67
    assert whole_percent(1, 8) == 13  # 12.5 rounds up
    assert whole_percent(0, 0) is None


def test_figures_for_the_seed_tools() -> None:
    files_api = figures_for(split("ship", "ship", "ship", "ship"), [], "Paid")
    haiku = figures_for(split("ship", "skip", "skip", "ship"), [], "Free")
    assert (files_api.panel_ship, files_api.panel_ships, files_api.panel_reviews) == (100, 4, 4)
    assert (haiku.panel_ship, haiku.panel_ships) == (50, 2)
    assert files_api.community is None and files_api.community_votes == 0
    assert files_api.entry == "Paid" and haiku.entry == "Free"
    assert [s.seat for s in haiku.split] == ["builder", "skeptic", "buyer", "futurist"]


def test_split_is_in_panel_order_whatever_the_input_order() -> None:
    reviews = [SeatVerdict("futurist", "ship"), SeatVerdict("builder", "skip")]
    assert [s.seat for s in figures_for(reviews, [], None).split] == ["builder", "futurist"]


def test_community_from_votes_and_empty_entry_is_none() -> None:
    figures = figures_for([], ["ship", "skip", "ship"], "")
    assert figures.community == 67 and figures.community_votes == 3
    assert figures.panel_ship is None
    assert figures.entry is None


def test_pull_quote_speaks_for_the_majority_or_the_first_seat() -> None:
    quotes = [
        ("skeptic", "skip", "No."),
        ("builder", "ship", "Yes."),
        ("buyer", "skip", "Too dear."),
    ]
    assert pull_quote(quotes) == pull_quote(quotes[::-1])
    assert pull_quote(quotes).seat == "skeptic"  # type: ignore[union-attr]
    tie = [("futurist", "ship", "Later."), ("builder", "skip", "Now.")]
    assert pull_quote(tie).seat == "builder"  # type: ignore[union-attr]
    assert pull_quote([]) is None


def test_shorten_quote_cuts_at_a_sentence_end() -> None:
    first = "The first sentence says what matters about the tool in about a hundred characters."
    assert shorten_quote(f"{first} " + "word " * 80) == first
    # A sentence too short to stand alone is not where the cut goes.
    assert shorten_quote("Short. " + "word " * 80).endswith("word…")
    long_word_salad = "word " * 100
    cut = shorten_quote(long_word_salad)
    assert cut.endswith("…") and len(cut) <= 241
    assert shorten_quote("Short.") == "Short."


def test_seat_rows_read_across_the_tools_with_none_for_a_missing_seat() -> None:
    full = column(1, "Full Panel", ("ship", "skip", "ship", "skip"), None, "q")
    short = column(2, "Two Seats", ("skip", "ship"), None, "q")  # builder, skeptic
    assert seat_rows([full, short]) == (
        ("builder", ("ship", "skip")),
        ("skeptic", ("skip", "ship")),
        ("buyer", ("ship", None)),
        ("futurist", ("skip", None)),
    )
    unreviewed = column(3, "Unreviewed", (), None, "q")
    assert seat_rows([unreviewed]) == ()
    assert [seat for seat, _ in seat_rows([short, unreviewed])] == ["builder", "skeptic"]
