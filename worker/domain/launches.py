"""A week's launches: the order an email lists them in, and which it keeps
when a segment has more than ``DIGEST_MAX_LAUNCHES``.

Which are kept is decided by the data alone, so a build, a rebuild and a
preview keep the same ones. Launches of tools that a comparison of the week
covers are not among them to begin with (gather leaves them out). Over the
cap, launches are taken one at a time from each source in turn: each feed,
and the content editors imported as one more source (first, then feeds by
id). Within a source's turn they come from its categories in turn (A–Z,
uncategorised last), and within a category the newest launch comes first,
then by name. So a feed that floods the week, under one category or under
a thousand made-up ones, gets a turn in each round like every other source
and cannot push the others out; nor can one category push out the rest of
its own feed's.

The editor's picks (the launches the week's edition file names in its
``order``, ``Digest.picks``) come before all of that: kept first, in the
file's order, and shown first as a group of their own.

Shown, the kept launches are grouped by category (A–Z, uncategorised last
as "Other") and listed by name within one, under the editor's picks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from typing import TypeVar

from worker.domain.digest import Digest, Launch

OTHER = "Other"  # the heading of launches without a category
PICKS = "Editor's picks"  # the heading of the launches the edition file orders first

T = TypeVar("T")


def by_category(launches: Iterable[Launch]) -> list[tuple[str, list[Launch]]]:
    """``launches`` as an email lists them: grouped by category, A–Z
    (uncategorised last, as "Other"), by name within one."""
    ordered = sorted(
        launches,
        key=lambda launch: (launch.category or "~", launch.name.casefold(), launch.tool_id),
    )
    grouped = groupby(ordered, key=lambda launch: launch.category or OTHER)
    return [(category, list(group)) for category, group in grouped]


def launch_groups(digest: Digest) -> list[tuple[str, list[Launch]]]:
    """``digest``'s launches as an email lists them: the editor's picks
    first, as one group in the edition file's order, then the rest
    :func:`by_category`."""
    picked, rest = _picked(digest)
    groups = by_category(rest)
    return [(PICKS, picked), *groups] if picked else groups


def kept_order(digest: Digest) -> list[Launch]:
    """``digest``'s launches in the order a capped edition keeps them: the
    editor's picks, then the rest in :func:`fair_order`."""
    picked, rest = _picked(digest)
    return [*picked, *fair_order(rest)]


def _picked(digest: Digest) -> tuple[list[Launch], list[Launch]]:
    """The launches ``digest.picks`` names, in its order, and the others."""
    rank = {tool_id: index for index, tool_id in enumerate(digest.picks)}
    picked = sorted(
        (x for x in digest.launches if x.tool_id in rank), key=lambda x: rank[x.tool_id]
    )
    return picked, [x for x in digest.launches if x.tool_id not in rank]


def fair_order(launches: Sequence[Launch]) -> list[Launch]:
    """``launches`` in the order a capped edition keeps them: round by round,
    one from each source, each taking its categories in turn (see the
    module's docstring)."""
    sources: dict[int | None, dict[str, list[Launch]]] = defaultdict(lambda: defaultdict(list))
    for launch in launches:
        sources[launch.feed_id][launch.category or ""].append(launch)
    turns = []
    for feed_id in sorted(sources, key=lambda feed: (feed is not None, feed or 0)):
        categories = sources[feed_id]
        queues = [
            sorted(categories[name], key=_newest_first)
            for name in sorted(categories, key=lambda name: (not name, name.casefold(), name))
        ]
        turns.append(_round_robin(queues))
    return list(_round_robin(turns))


def capped(digest: Digest, limit: int, order: Sequence[Launch] | None = None) -> Digest:
    """``digest`` showing at most ``limit`` launches, the first ones of
    :func:`kept_order` (``order``, where the caller has it already); the
    rest are counted in ``more_launches``."""
    if len(digest.launches) <= limit:
        return digest
    ordered = kept_order(digest) if order is None else order
    return dataclasses.replace(
        digest,
        launches=tuple(ordered[:limit]),
        more_launches=digest.more_launches + len(digest.launches) - limit,
    )


def _newest_first(launch: Launch) -> tuple[int, str, int]:
    day = launch.launched_on or dt.date.min
    return (-day.toordinal(), launch.name.casefold(), launch.tool_id)


def _round_robin(queues: Iterable[Iterable[T]]) -> Iterator[T]:
    """One item of each queue in turn, until every queue is used up."""
    turns = deque(iter(queue) for queue in queues)
    while turns:
        queue = turns.popleft()
        for item in queue:
            yield item
            turns.append(queue)
            break
