"""Segments: subscribers with the same category choice share one render.

A segment key is the sorted category names joined with ``|``; the empty key
means every category.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from worker.domain.digest import Digest

# The segment key of the full digest (every category), rendered for every
# edition: the archive's, the previews' and the fallback of a welcome.
EVERYONE = ""

CATEGORY_SEPARATOR = "|"


def segment_key(categories: Iterable[str]) -> str:
    """The canonical form of a category choice, as ``Subscriber.categories``
    holds it: names sorted, blanks and duplicates dropped, joined with ``|``.
    The empty key means every category."""
    return CATEGORY_SEPARATOR.join(sorted({c.strip() for c in categories if c and c.strip()}))


def segment_categories(key: str) -> tuple[str, ...]:
    """The category names of a segment key; () for every category."""
    return tuple(c for c in key.split(CATEGORY_SEPARATOR) if c)


def digest_for_segment(digest: Digest, key: str) -> Digest:
    """``digest`` narrowed to the segment's categories (all of it for "")."""
    chosen = {c.casefold() for c in segment_categories(key)}
    if not chosen:
        return digest

    def wanted(category: str | None) -> bool:
        return (category or "").casefold() in chosen

    return dataclasses.replace(
        digest,
        comparisons=tuple(
            c for c in digest.comparisons if any(wanted(t.category) for t in c.tools)
        ),
        launches=tuple(launch for launch in digest.launches if wanted(launch.category)),
        categories=segment_categories(key),
    )


def segment_label(key: str) -> str:
    """A segment as a person reads it."""
    return ", ".join(segment_categories(key)) or "every category"


def parse_segment(text: str | None) -> str:
    """The segment key of a category list as a person writes it
    ("Design, Productivity"; "|" works too); empty or None is everyone."""
    return segment_key(re.split(r"[,|]", text or ""))
