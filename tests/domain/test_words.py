"""Counts said in English."""

from __future__ import annotations

import pytest

from worker.domain.words import plural


@pytest.mark.parametrize(
    ("count", "noun", "nouns", "said"),
    [
        (0, "tool", "", "0 tools"),
        (1, "tool", "", "1 tool"),
        (2, "comparison", "", "2 comparisons"),
        (1, "new launch", "", "1 new launch"),
        (3, "new launch", "", "3 new launches"),
        (2, "box", "", "2 boxes"),
        (2, "delivery", "deliveries", "2 deliveries"),
    ],
)
def test_a_count_and_its_noun(count: int, noun: str, nouns: str, said: str) -> None:
    assert plural(count, noun, nouns) == said
