"""Which launches an edition keeps over DIGEST_MAX_LAUNCHES, and the order
it lists them in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import Counter

from tests.support.digests import launch, seed_digest
from worker.domain.digest import Launch
from worker.domain.launches import PICKS, by_category, capped, fair_order, kept_order, launch_groups
from worker.domain.urls import archive_launches_url, archive_url


def made(n: int, category: str | None, feed_id: int | None = 1, day: int = 0) -> Launch:
    return dataclasses.replace(
        launch(n),
        category=category,
        feed_id=feed_id,
        launched_on=dt.date(2026, 11, 23 + day),
    )


def test_a_flooding_category_leaves_room_for_the_others() -> None:
    flood = [made(n, "Developer Tools") for n in range(480)]
    others = [made(480 + n, ("Design", "Productivity")[n % 2]) for n in range(20)]
    week = dataclasses.replace(seed_digest(), launches=(*flood, *others))
    shown = capped(week, 40)
    assert len(shown.launches) == 40
    assert (shown.more_launches, shown.launch_count) == (460, 500)
    assert Counter(x.category for x in shown.launches) == {
        "Design": 10,
        "Productivity": 10,
        "Developer Tools": 20,
    }


def test_a_feed_making_up_categories_gets_one_turn_a_round() -> None:
    """A feed cannot win by spreading its flood over a thousand categories:
    every source takes one turn a round, editors' content first."""
    flood = [made(n, f"AAA made-up {n}", feed_id=9) for n in range(1000)]
    honest = [made(2000 + n, "Design", feed_id=2) for n in range(5)]
    imported = [made(3000, "Productivity", feed_id=None)]
    kept = fair_order([*flood, *honest, *imported])[:12]
    assert kept[0] == imported[0]
    assert Counter(x.feed_id for x in kept) == {None: 1, 2: 5, 9: 6}


def test_within_a_category_the_newest_come_first_then_by_name() -> None:
    older = made(1, "Design", day=0)
    newer_b = dataclasses.replace(made(2, "Design", day=3), name="Beta")
    newer_a = dataclasses.replace(made(3, "Design", day=3), name="alpha")
    assert fair_order([older, newer_b, newer_a]) == [newer_a, newer_b, older]


def test_the_order_depends_on_the_launches_alone() -> None:
    launches = [made(n, ("Design", None, "Data")[n % 3], feed_id=n % 4 or None) for n in range(60)]
    shuffled = launches[:]
    random.Random(48).shuffle(shuffled)
    assert fair_order(shuffled) == fair_order(launches)
    assert sorted(fair_order(launches), key=id) == sorted(launches, key=id)


def test_under_the_cap_the_digest_is_left_alone() -> None:
    week = seed_digest()
    assert capped(week, 2) is week
    one = capped(week, 1)
    assert [x.category for x in one.launches] == ["Design"]  # categories A–Z in a round
    assert (one.more_launches, one.launch_count) == (1, 2)


def test_launches_are_listed_by_category_and_name_uncategorised_last() -> None:
    launches = [
        dataclasses.replace(made(1, None), name="zeta"),
        dataclasses.replace(made(2, "Productivity"), name="beta"),
        dataclasses.replace(made(3, "Design"), name="Omega"),
        dataclasses.replace(made(4, "Productivity"), name="Alpha"),
    ]
    assert [(c, [x.name for x in group]) for c, group in by_category(launches)] == [
        ("Design", ["Omega"]),
        ("Productivity", ["Alpha", "beta"]),
        ("Other", ["zeta"]),
    ]


def test_the_editors_picks_are_kept_first_under_the_cap_in_the_files_order() -> None:
    """A flooding feed's launches would win no place by the fair order; named
    in the edition file's ``order``, they are kept before any other."""
    flood = [made(n, "Developer Tools", feed_id=9) for n in range(300)]
    others = [made(300 + n, "Design", feed_id=2) for n in range(20)]
    picks = (flood[250].tool_id, others[19].tool_id, flood[299].tool_id)
    week = dataclasses.replace(seed_digest(), launches=(*flood, *others), picks=picks)
    assert [x.tool_id for x in kept_order(week)[:3]] == list(picks)
    shown = capped(week, 5)
    assert [x.tool_id for x in shown.launches[:3]] == list(picks)
    assert (len(shown.launches), shown.more_launches) == (5, 315)
    # Without picks, the same cap keeps none of them.
    plain = capped(dataclasses.replace(week, picks=()), 5)
    assert not {x.tool_id for x in plain.launches} & set(picks)


def test_the_picks_are_a_group_of_their_own_above_the_categories() -> None:
    design, productivity, other = made(1, "Design"), made(2, "Productivity"), made(3, None)
    week = dataclasses.replace(
        seed_digest(),
        launches=(design, productivity, other),
        # A pick the segment does not have (narrowed out) is passed over.
        picks=(other.tool_id, 999_999, productivity.tool_id),
    )
    assert launch_groups(week) == [(PICKS, [other, productivity]), ("Design", [design])]
    unpicked = dataclasses.replace(week, picks=())
    assert launch_groups(unpicked) == by_category(unpicked.launches)


def test_archive_links_are_built_in_one_place() -> None:
    week = seed_digest()
    assert archive_url("https://verdicts.example/", "2026-W48") == week.archive_url
    assert week.archive_url == "https://verdicts.example/archive/2026-W48"
    assert week.launches_url == archive_launches_url(week.site_url, week.week)
    assert week.launches_url == "https://verdicts.example/archive/2026-W48/launches"
