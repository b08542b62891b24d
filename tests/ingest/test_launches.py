"""A feed entry made into a launch: its canonical URL, the second dedupe
key; the newest entries of a feed with more than a fetch may store."""

from __future__ import annotations

import time

import pytest

from worker.ingest.launches import canonical_url, newest


def test_canonical_url() -> None:
    assert canonical_url("HTTPS://Example.COM:443/a/b/?utm_source=x&b=2&a=1#frag") == (
        "https://example.com/a/b?a=1&b=2"
    )
    assert canonical_url("http://example.com:8080") == "http://example.com:8080/"
    assert canonical_url("http://[::1]:8080/a/") == "http://[::1]:8080/a"
    with pytest.raises(ValueError, match="Port"):
        canonical_url("http://x:abc/")


def entry(day: int | None) -> dict[str, object]:
    """A parsed entry published on that day of November 2020 (None: undated)."""
    return {"published_parsed": time.struct_time((2020, 11, day, 9, 0, 0, 0, 0, 0))} if day else {}


def test_newest_keeps_the_newest_entries_in_the_feeds_order() -> None:
    entries = [entry(day) for day in (3, 20, 1, 20, 7, 5)]
    assert newest(entries, 3) == [1, 3, 4]
    assert newest(entries, 6) == newest(entries, 60) == [0, 1, 2, 3, 4, 5]


def test_newest_breaks_ties_by_the_feeds_order_and_counts_undated_as_now() -> None:
    assert newest([entry(9)] * 5, 2) == [0, 1]
    updated = {"updated_parsed": time.struct_time((2020, 11, 30, 0, 0, 0, 0, 0, 0))}
    assert newest([entry(2), entry(None), entry(28), updated], 2) == [1, 3]
    assert newest([entry(2), {"published_parsed": "not a date"}], 1) == [1]
