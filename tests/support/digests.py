"""Digest objects for render tests: the seed comparison, and a big week."""

from __future__ import annotations

import dataclasses
import datetime as dt

from worker.domain.digest import (
    ComparisonBlock,
    Digest,
    Figures,
    Launch,
    PullQuote,
    SeatVerdict,
    ToolColumn,
)
from worker.domain.verdicts import SEAT_ORDER, figures_for, shorten_quote

SITE = "https://verdicts.example"


def column(
    tool_id: int,
    name: str,
    verdicts: tuple[str, ...],
    entry: str | None,
    quote: str,
    *,
    category: str = "Developer Tools",
    votes: tuple[str, ...] = (),
    url: str | None = None,
) -> ToolColumn:
    slug = name.lower().replace(" ", "-")
    split = [SeatVerdict(seat, v) for seat, v in zip(SEAT_ORDER, verdicts, strict=False)]
    figures: Figures = figures_for(split, votes, entry)
    return ToolColumn(
        tool_id=tool_id,
        slug=slug,
        name=name,
        vendor="Anthropic" if name.startswith("Claude") else f"{name.split()[0]} Labs",
        category=category,
        tagline=f"{name}: a tagline of a realistic length for a new AI tool",
        url=url,
        figures=figures,
        quote=PullQuote("builder", verdicts[0], shorten_quote(quote)) if verdicts else None,
    )


def seed_comparison() -> ComparisonBlock:
    files_api = column(
        1,
        "Claude Files API",
        ("ship", "ship", "ship", "ship"),
        "Paid",
        "The primitive here is clean: persistent file references that decouple document "
        "upload from inference calls, so you stop paying context tokens on every round-trip "
        "for the same PDF.",
    )
    haiku = column(
        2,
        "Claude Haiku Open Weights",
        ("ship", "skip", "skip", "ship"),
        "Free",
        "The primitive here is simple: a downloadable weight file you can run locally "
        "without hitting an API endpoint or setting environment variables.",
    )
    return ComparisonBlock(
        slug="claude-files-api-vs-claude-haiku-open-weights",
        title="Claude Files API vs Claude Haiku Open Weights",
        summary="Which one should you ship with? Here is the side-by-side panel verdict, "
        "pricing read, reviewer split, and community vote comparison.",
        url=f"{SITE}/compare/claude-files-api-vs-claude-haiku-open-weights",
        category="Developer Tools",
        tools=(files_api, haiku),
    )


LONG_NAMES = (
    "Claude Haiku Open Weights With Extended Context And Tool Use",
    "Supercalifragilisticexpialidociousnessplatform",
    "Loomwright Enterprise Edition for Regulated Industries",
    "Parcelbot",
)


def long_names_comparison(tools: int) -> ComparisonBlock:
    """A comparison of ``tools`` tools with the longest names a column must
    take (one a single 46-letter word); the last one lacks two seats."""
    columns = tuple(
        column(
            100 + j,
            LONG_NAMES[j % len(LONG_NAMES)],
            ("ship", "skip") if j == tools - 1 else ("skip", "ship", "ship", "skip"),
            "Free tier, then $20 a seat a month",
            "A pull quote long enough to wrap over several lines in a narrow column.",
            votes=("ship",) * 1200 + ("skip",) * 34,
            url=f"https://long-{j}.example/",
        )
        for j in range(tools)
    )
    return ComparisonBlock(
        slug=f"long-names-{tools}",
        title=" vs ".join(c.name for c in columns),
        summary=None,
        url=f"{SITE}/compare/long-names-{tools}",
        category="Developer Tools",
        tools=columns,
    )


def launch(n: int, category: str = "Productivity") -> Launch:
    return Launch(
        tool_id=1000 + n,
        slug=f"launch-{n}",
        name=f"Launchpad Tool {n}",
        vendor=f"Vendor {n} (fictional)",
        category=category,
        tagline="Turns a plain-language request into something useful, and explains each "
        "step it took so the team can check it.",
        entry=("Free", "Paid", "Freemium")[n % 3],
        url=f"https://tool-{n}.example/launch?ref=digest",
        launched_on=dt.date(2026, 11, 23 + n % 7),
    )


def digest(comparisons: tuple[ComparisonBlock, ...], launches: tuple[Launch, ...]) -> Digest:
    return Digest(
        list_name="Weekly AI Tool Verdicts",
        week="2026-W48",
        starts_on=dt.date(2026, 11, 23),
        ends_on=dt.date(2026, 11, 29),
        site_url=SITE,
        postal_address="548 Market St, San Francisco, CA 94104, USA",
        comparisons=comparisons,
        launches=launches,
    )


def seed_digest() -> Digest:
    return digest((seed_comparison(),), (launch(1), launch(2, "Design")))


def big_digest(comparisons: int = 5, launches: int = 30) -> Digest:
    """A heavy week: ``comparisons`` comparisons of two or three tools with
    long quotes, and ``launches`` launches in four categories."""
    quote = (
        "A long pull quote that argues the case the way the panel does, with a competitor "
        "named, a price read, and the one decision that earns the verdict in the end. " * 2
    )
    blocks = []
    for i in range(comparisons):
        size = 3 if i % 2 else 2
        tools = tuple(
            column(
                10 * i + j,
                f"Comparison {i} Tool {j}",
                ("ship", "skip", "ship", "ship"),
                "Freemium",
                quote,
                votes=("ship",) * (j + 1) + ("skip",) * 2,
                url=f"https://tool-{i}-{j}.example/",
            )
            for j in range(size)
        )
        blocks.append(
            ComparisonBlock(
                slug=f"comparison-{i}",
                title=f"Comparison {i} Tool 0 vs Comparison {i} Tool 1 — which should you ship?",
                summary="A summary of two sentences that sets up the comparison for the "
                "reader. It says what the panel looked at.",
                url=f"{SITE}/compare/comparison-{i}",
                category="Developer Tools",
                tools=tools,
            )
        )
    categories = ("Developer Tools", "Productivity", "Design", "Data & Analytics")
    return digest(tuple(blocks), tuple(launch(n, categories[n % 4]) for n in range(launches)))


def flooded_digest(total: int = 500) -> Digest:
    """The seed comparison and ``total`` launches in three categories from
    two feeds: 20 in Design and Productivity ("Steady Tool N"), the rest in
    Developer Tools from a feed that floods ("Flood Tool N"); capped at 40,
    DIGEST_MAX_LAUNCHES' default."""
    categories = ("Design", "Productivity")
    launches = [
        dataclasses.replace(launch(n, categories[n % 2]), feed_id=2, name=f"Steady Tool {n}")
        for n in range(20)
    ]
    launches += [
        dataclasses.replace(launch(n, "Developer Tools"), feed_id=1, name=f"Flood Tool {n}")
        for n in range(20, total)
    ]
    return dataclasses.replace(seed_digest(), launches=tuple(launches), max_launches=40)


def long_launches_digest() -> Digest:
    """Five comparisons and 40 launches with a feed's longest fields (name
    300 characters, vendor and tagline 200, link 2048): about 3 KB each."""
    long = tuple(
        dataclasses.replace(
            launch(n),
            name=f"Long {n} " + "n" * 290,
            vendor="v" * 200,
            tagline="t" * 200,
            url=f"https://long-{n}.example/" + "u" * 2000,
        )
        for n in range(40)
    )
    return dataclasses.replace(big_digest(5, 0), launches=long, max_launches=40)
