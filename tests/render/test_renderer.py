"""Render: Jinja2 → MJML → HTML, and the text part, from plain Digest data."""

from __future__ import annotations

import dataclasses
import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support.digests import (
    big_digest,
    flooded_digest,
    launch,
    long_launches_digest,
    long_names_comparison,
    seed_comparison,
    seed_digest,
)
from worker.config import PROJECT_ROOT, Settings
from worker.domain import placeholders
from worker.domain.clicks import edition_links
from worker.errors import RenderError
from worker.render.renderer import HTML_BUDGET, Renderer, preheader_for, subject_for


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(PROJECT_ROOT / "templates")


def visible_text(html: str) -> str:
    body = re.sub(r"(?s)<(style|title|head)\b.*?</\1>", " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


class _VerdictTables(HTMLParser):
    """The rows of each verdict table (``<table class="vt …">``) of an HTML
    body, as the visible text of each cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._in_table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and "vt" in (dict(attrs).get("class") or "").split():
            self._in_table = True
            self.tables.append([])
        elif self._in_table and tag == "tr":
            self.tables[-1].append([])
        elif self._in_table and tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def verdict_tables(html: str) -> list[list[list[str]]]:
    parser = _VerdictTables()
    parser.feed(html)
    return parser.tables


SEED_QUOTES = [
    "“The primitive here is clean: persistent file references that decouple document upload "
    "from inference calls, so you stop paying context tokens on every round-trip for the same "
    "PDF.” — the builder",
    "“The primitive here is simple: a downloadable weight file you can run locally without "
    "hitting an API endpoint or setting environment variables.” — the builder",
]


def test_seed_comparison_is_one_table_read_across(renderer: Renderer) -> None:
    """The seed page's table: a label column, a column per tool, a row per
    figure and per reviewer seat."""
    out = renderer.render(seed_digest())
    [table] = verdict_tables(out.html)
    assert table == [
        ["", *(f"{tool.name} {tool.tagline}" for tool in seed_comparison().tools)],
        ["Panel ship", "100% 4 of 4", "50% 2 of 4"],
        ["Community", "—", "—"],
        ["Entry", "Paid", "Free"],
        ["Builder", "✓ ship", "✓ ship"],
        ["Skeptic", "✓ ship", "✗ skip"],
        ["Buyer", "✓ ship", "✗ skip"],
        ["Futurist", "✓ ship", "✓ ship"],
        ["", *SEED_QUOTES],
        ["Your vote", "✓ Ship it ✗ Skip it", "✓ Ship it ✗ Skip it"],
    ]
    assert 'class="vt-stack"' not in out.html  # two tools stay one table on a phone too


def test_seed_comparison_in_the_text_part_is_an_aligned_table(renderer: Renderer) -> None:
    text = renderer.render(seed_digest()).text
    table = """\
            Claude Files API               Claude Haiku Open Weights
            -----------------------------  -----------------------------
Panel ship  100% (4 of 4)                  50% (2 of 4)
Community   —                              —
Entry       Paid                           Free
Builder     ✓ ship                         ✓ ship
Skeptic     ✓ ship                         ✗ skip
Buyer       ✓ ship                         ✗ skip
Futurist    ✓ ship                         ✓ ship
"""
    assert f"claude-haiku-open-weights\n\n{table}\n" in text
    for quote in SEED_QUOTES:
        assert quote in " ".join(text.split())
    haiku = seed_comparison().tools[1]
    assert f"Claude Haiku Open Weights · Anthropic {haiku.tagline}" in " ".join(text.split())


def test_three_tools_are_a_table_with_the_tools_stacked_for_phones(renderer: Renderer) -> None:
    """The phone media query swaps the table for per-tool blocks, hidden
    inline for clients without media queries and left out for Outlook."""
    three = big_digest(2, 0).comparisons[1]
    out = renderer.render(dataclasses.replace(seed_digest(), comparisons=(three,), launches=()))
    [table] = verdict_tables(out.html)
    assert [len(row) for row in table] == [4] * len(table)
    assert table[0][1:] == [f"{t.name} {t.tagline}" for t in three.tools]
    stack = re.search(
        r'<!--\[if !mso\]><!--><div class="vt-stack" style="display:none;max-height:0;'
        r'overflow:hidden">(.*?)</div><!--<!\[endif\]-->',
        out.html,
        re.S,
    )
    assert stack and stack[1].count('class="vt-tool"') == 3
    shown = visible_text(stack[1])
    for tool in three.tools:
        assert f"{tool.name} {tool.tagline} Panel ship 75% · 3 of 4 Community" in shown
    assert "Builder ✓ ship Skeptic ✗ skip Buyer ✓ ship Futurist ✓ ship" in shown
    assert '<table class="vt vt-wide"' in out.html and ".vt-wide { display: none" in out.html
    # The text part: three columns within 72 characters.
    assert "            Comparison 1 Tool   Comparison 1 Tool   Comparison 1 Tool\n" in out.text
    assert "Skeptic     ✗ skip              ✗ skip              ✗ skip\n" in out.text


def test_four_tools_and_long_names_are_stacked_by_tool(renderer: Renderer) -> None:
    four = long_names_comparison(4)
    out = renderer.render(dataclasses.replace(seed_digest(), comparisons=(four,)))
    assert verdict_tables(out.html) == []
    assert out.html.count('class="vt-tool"') == 4 and 'class="vt-stack"' not in out.html
    # The last tool lacks the buyer and the futurist: a dash in their rows.
    assert "Builder ✓ ship Skeptic ✗ skip Buyer — Futurist —" in visible_text(out.html)
    assert "  Panel ship  50% (1 of 2)\n  Community   97% (1,234 votes)\n" in out.text
    assert "  Buyer       —\n  Futurist    —\n" in out.text
    # Three tools, one name a word longer than a text column: stacked in the
    # text part, still a table in the HTML.
    three = dataclasses.replace(seed_digest(), comparisons=(long_names_comparison(3),))
    out = renderer.render(three)
    assert len(verdict_tables(out.html)) == 1
    assert out.text.count("\n  Panel ship  ") == 3
    assert max(len(line) for line in out.text.splitlines() if "://" not in line) <= 72


def test_a_seat_a_tool_lacks_is_a_dash_in_the_table(renderer: Renderer) -> None:
    two = long_names_comparison(2)  # the second tool lacks the buyer and the futurist
    out = renderer.render(dataclasses.replace(seed_digest(), comparisons=(two,)))
    [table] = verdict_tables(out.html)
    assert table[3:8] == [
        ["Entry", "Free tier, then $20 a seat a month", "Free tier, then $20 a seat a month"],
        ["Builder", "✗ skip", "✓ ship"],
        ["Skeptic", "✓ ship", "✗ skip"],
        ["Buyer", "✓ ship", "—"],
        ["Futurist", "✗ skip", "—"],
    ]
    assert table[2] == ["Community", "97% 1,234 votes", "97% 1,234 votes"]


def test_the_panel_is_explained_once_with_the_method_page_when_set(renderer: Renderer) -> None:
    line = (
        "Four seats: builder, skeptic, buyer, futurist; each says ship or skip. "
        "Community: readers' Ship/Skip votes."
    )
    week = dataclasses.replace(big_digest(3, 1))
    out = renderer.render(week)
    assert unescape(visible_text(out.html)).count(line) == 1
    assert " ".join(out.text.split()).count(line) == 1
    assert "How the panel works" not in out.html + out.text
    method = "https://verdicts.example/method"
    out = renderer.render(dataclasses.replace(week, method_url=method))
    assert f'<a href="{method}" style="color:#59636e">How the panel works</a>' in out.html
    assert f"How the panel works: {method}\n" in out.text
    # Under the first comparison's table, before the second comparison.
    assert out.html.index("How the panel works") < out.html.index(week.comparisons[1].title)


def test_the_body_is_600_px_and_compiles_cleanly(renderer: Renderer) -> None:
    out = renderer.render(seed_digest())
    assert out.html.startswith("<!doctype html>")
    assert "max-width:600px" in out.html
    assert '<meta name="color-scheme" content="light dark" />' in out.html
    assert "prefers-color-scheme: dark" in out.html
    for leftover in ("{{", "{%", "<mj-", "</mj-"):
        assert leftover not in out.html and leftover not in out.text
    assert "<img" not in out.html  # nothing to miss with images off


def test_per_recipient_links_are_placeholders(renderer: Renderer) -> None:
    out = renderer.render(seed_digest())
    for part in (out.html, out.text):
        assert placeholders.UNSUBSCRIBE_URL in part
        assert placeholders.PREFERENCES_URL in part
        assert f"/vote/{placeholders.VOTE_TOKEN}/claude-files-api/ship" in part
        assert f"/vote/{placeholders.VOTE_TOKEN}/claude-haiku-open-weights/skip" in part
        assert "https://verdicts.example/archive/2026-W48" in part
    assert f'href="{placeholders.UNSUBSCRIBE_URL}"' in out.html


def test_footer_has_the_postal_address_and_why(renderer: Renderer) -> None:
    out = renderer.render(seed_digest())
    for part in (visible_text(out.html), out.text):
        assert "548 Market St, San Francisco, CA 94104, USA" in part
        assert "Unsubscribe" in part and "preferences" in part
        assert "you subscribed to Weekly AI Tool Verdicts" in part


def test_subject_and_preheader() -> None:
    seed = seed_digest()
    assert subject_for(seed) == "Claude Files API vs Claude Haiku Open Weights"
    assert preheader_for(seed) == (
        "Panel verdicts on 1 comparison and 2 new launches, week of Nov 23."
    )
    two = dataclasses.replace(seed, comparisons=(seed_comparison(), seed_comparison()))
    assert subject_for(two) == "Claude Files API vs Claude Haiku Open Weights + 1 more comparison"
    long = dataclasses.replace(big_digest(3, 0))
    assert len(subject_for(long)) <= 78
    only_launches = dataclasses.replace(seed, comparisons=())
    assert subject_for(only_launches) == "2 new AI tools this week"


def test_subject_and_preheader_reach_the_html(renderer: Renderer) -> None:
    out = renderer.render(seed_digest())
    assert f"<title>{out.subject}</title>" in out.html
    assert out.preheader in out.html


def test_hostile_text_is_escaped_and_bad_urls_are_not_linked(renderer: Renderer) -> None:
    seed = seed_comparison()
    evil = dataclasses.replace(
        seed.tools[0],
        name='<script>alert("x")</script> Tool',
        url="javascript:alert(1)",
        tagline='" onmouseover="alert(1)',
    )
    comparison = dataclasses.replace(
        seed, tools=(evil, seed.tools[1]), title="A & B <b>bold</b>", url="data:text/html,x"
    )
    hostile = dataclasses.replace(seed_digest(), comparisons=(comparison,))
    out = renderer.render(hostile)
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "A &amp; B &lt;b&gt;bold&lt;/b&gt;" in out.html
    assert "javascript:" not in out.html and "data:text/html" not in out.html
    assert '" onmouseover' not in out.html
    # The text part is plain text: shown as written, never interpreted.
    assert '<script>alert("x")</script> Tool' in out.text


def test_content_cannot_pose_as_a_readers_own_links(renderer: Renderer) -> None:
    """A feed entry linking to ``…?u=%%unsubscribe_url%%`` would otherwise
    be filled with each reader's signed links by the composer."""
    bait = "https://evil.example/?u=%%unsubscribe_url%%&p=%%preferences_url%%&v=%%vote_token%%"
    week = dataclasses.replace(
        seed_digest(),
        launches=(dataclasses.replace(launch(1), url=bait, name="Tool %%vote_token%%"),),
    )
    out = renderer.render(week)
    for part in (out.html, out.text):
        assert "evil.example/?u=%25%25unsubscribe_url%25%25" in part
        # Only the template's own links carry placeholders.
        assert part.count(placeholders.UNSUBSCRIBE_URL) == 1
        assert part.count(placeholders.PREFERENCES_URL) == 1
        assert "Tool %%" not in part


def test_a_very_long_title_gives_a_subject_that_fits(renderer: Renderer) -> None:
    title = "Which one " + "really " * 80 + "ships?"
    week = dataclasses.replace(
        seed_digest(), comparisons=(dataclasses.replace(seed_comparison(), title=title),)
    )
    subject = renderer.render(week).subject
    assert len(subject) <= 150 and subject.endswith("really…")


def test_an_empty_digest_is_refused(renderer: Renderer) -> None:
    empty = dataclasses.replace(seed_digest(), comparisons=(), launches=())
    with pytest.raises(RenderError, match="nothing to render"):
        renderer.render(empty)


def test_launches_are_grouped_by_category(renderer: Renderer) -> None:
    week = dataclasses.replace(
        seed_digest(), launches=(launch(1, "Productivity"), launch(2, "Design"), launch(3))
    )
    text = renderer.render(week).text
    assert text.index("DESIGN") < text.index("PRODUCTIVITY")
    assert text.count("PRODUCTIVITY") == 1
    assert "NEW THIS WEEK: 3 launches" in text


def test_the_editors_picks_come_first_and_stay_under_the_cap(renderer: Renderer) -> None:
    """Launches the edition file orders first are listed under EDITOR'S PICKS,
    above the categories, and kept when the cap leaves others out."""
    week = flooded_digest(500)
    flood = [x for x in week.launches if x.name.startswith("Flood")]
    picks = (flood[-1], flood[-2])  # the fair order would keep neither
    out = renderer.render(dataclasses.replace(week, picks=tuple(x.tool_id for x in picks)))
    names = listed(out.html)
    assert len(names) == 40
    assert names[:2] == [picks[0].name, picks[1].name]
    assert names.count(picks[0].name) == 1  # not listed again in its category
    html = visible_text(out.html)
    assert html.index("EDITOR&#39;S PICKS") < html.index("DESIGN")
    assert out.text.index("EDITOR'S PICKS") < out.text.index(picks[0].name)
    assert out.text.index(picks[1].name) < out.text.index("DESIGN")
    assert len(out.html.encode()) <= HTML_BUDGET


def test_the_picks_are_kept_first_when_the_budget_cuts(renderer: Renderer) -> None:
    """Launches too long for all to fit: the budget's cut keeps the picks."""
    week = long_launches_digest()
    picks = (week.launches[-1], week.launches[-3])
    out = renderer.render(dataclasses.replace(week, picks=tuple(x.tool_id for x in picks)))
    shown = re.findall(r"<b>(Long \d+) n+</b>", out.html)
    assert 2 < len(shown) < 40
    assert shown[:2] == [picks[0].name.split(" n")[0], picks[1].name.split(" n")[0]]
    assert len(out.html.encode()) <= HTML_BUDGET


def test_text_part_has_what_the_html_has(renderer: Renderer) -> None:
    digest = big_digest(3, 8)
    out = renderer.render(digest)
    names = [t.name for c in digest.comparisons for t in c.tools]
    names += [c.title for c in digest.comparisons] + [x.name for x in digest.launches]
    html = visible_text(out.html)
    for name in names:
        assert name in html
        assert name in out.text.replace("\n", " ")
    assert "&amp;" not in out.text and "&#" not in out.text
    assert max(len(line) for line in out.text.splitlines() if "://" not in line) <= 78


def test_a_heavy_week_stays_under_gmail_clipping(renderer: Renderer) -> None:
    """Five comparisons (three of them two tools, two of them three, whose
    per-tool phone blocks come with the table) and 30 launches, all shown."""
    out = renderer.render(big_digest(5, 30))
    size = len(out.html.encode())
    print(f"\nHTML of 5 comparisons and 30 launches: {size} bytes")
    assert "more-launches" not in out.html and len(re.findall(r"<b>Launchpad Tool", out.html)) == 30
    assert size < 95_000 and size < HTML_BUDGET


def test_a_heavy_week_with_counted_links_stays_under_gmail_clipping(
    renderer: Renderer, settings: Settings
) -> None:
    """Every content link a redirect (about 80 bytes more each: 53 here)."""
    digest = big_digest(5, 30)
    out = renderer.render(digest, edition_links(settings, digest.week))
    size = len(out.html.encode())
    print(f"\nHTML of 5 comparisons and 30 launches, links counted: {size} bytes")
    assert "more-launches" not in out.html and len(re.findall(r"<b>Launchpad Tool", out.html)) == 30
    assert out.html.count("/r/2026-W48.") == 53
    assert size < 95_000 and size < HTML_BUDGET


def test_content_links_go_through_the_counted_redirect_and_no_other(
    renderer: Renderer, settings: Settings
) -> None:
    intro = "See [the method](https://verdicts.example/method) and [a post](https://blog.example/p?a=1&b=2)."
    digest = dataclasses.replace(seed_digest(), intro=intro)
    clicks = edition_links(settings, digest.week)
    assert clicks is not None
    out = renderer.render(digest, clicks)
    files_api, haiku = seed_comparison().tools
    comparison = seed_comparison()
    expected = {
        clicks.url(f"comparison:{comparison.slug}", comparison.url),
        clicks.url("launch:launch-1", launch(1).url or ""),
        clicks.url("launch:launch-2", launch(2).url or ""),
        clicks.url("intro:1", "https://verdicts.example/method"),
        clicks.url("intro:2", "https://blog.example/p?a=1&b=2"),
    }
    hrefs = {unescape(h) for h in re.findall(r'href="([^"]*)"', out.html)}
    counted = {h for h in hrefs if "/r/" in h}
    assert counted == expected  # the seed's tools have no url: their names are not links
    text_links = set(re.findall(r"https://verdicts\.example/r/\S+", out.text))
    assert text_links == expected
    # A reader's own links and the site's own stay as they are.
    others = hrefs - counted
    assert placeholders.UNSUBSCRIBE_URL in others and placeholders.PREFERENCES_URL in others
    assert (
        f"https://verdicts.example/vote/{placeholders.VOTE_TOKEN}/{files_api.slug}/ship" in others
    )
    assert f"https://verdicts.example/vote/{placeholders.VOTE_TOKEN}/{haiku.slug}/skip" in others
    assert "https://verdicts.example/archive/2026-W48" in others
    # Tools with a url are counted as tools.
    linked = dataclasses.replace(
        digest,
        comparisons=(long_names_comparison(3),),
    )
    tools = renderer.render(linked, clicks)
    for tool in long_names_comparison(3).tools:
        url = clicks.url(f"tool:{tool.slug}", tool.url or "")
        assert f'href="{url}"' in tools.html and url in tools.text


def test_without_counted_links_every_link_is_as_it_is(renderer: Renderer) -> None:
    out = renderer.render(dataclasses.replace(seed_digest(), intro="[x](https://x.example/)"))
    assert "/r/" not in out.html and "/r/" not in out.text
    assert f'href="{launch(1).url}"' in out.html and 'href="https://x.example/"' in out.html


def test_links_signed_for_another_week_are_refused(renderer: Renderer, settings: Settings) -> None:
    with pytest.raises(RenderError, match="links signed for the edition of 2026-W47"):
        renderer.render(seed_digest(), edition_links(settings, "2026-W47"))


def listed(out_html: str) -> list[str]:
    """The names of the launches the HTML lists."""
    return re.findall(r"<b>((?:Steady|Flood) Tool \d+)</b>", out_html)


def test_a_flooded_week_lists_the_cap_fairly_and_links_to_the_rest(renderer: Renderer) -> None:
    out = renderer.render(flooded_digest(500))
    names = listed(out.html)
    assert len(names) == 40
    # Two feeds take turns: each keeps 20, the steady one's split over its categories.
    assert sum(name.startswith("Steady") for name in names) == 20
    assert len(out.html.encode()) <= HTML_BUDGET
    archive = "https://verdicts.example/archive/2026-W48/launches"
    html = visible_text(out.html)
    assert "500 new launches" in html
    assert "And 460 more launches this week. See every launch of the week in the archive" in html
    assert re.search(
        rf'<p class="more-launches" data-shown="40" data-more="460"[^>]*>[^<]*<a href="{archive}">',
        out.html,
    )
    assert "NEW THIS WEEK: 500 launches" in out.text
    assert (
        "And 460 more launches this week. See every launch of the week in the\narchive:\n"
        f"{archive}\n" in out.text
    )
    assert sum(line.startswith("* ") for line in out.text.splitlines()) == 40


def test_a_segment_is_capped_after_it_is_narrowed(renderer: Renderer) -> None:
    out = renderer.render_segment(flooded_digest(500), "Developer Tools|Productivity")
    assert out is not None
    names = listed(out.html)
    assert len(names) == 40 and sum(n.startswith("Steady") for n in names) == 10
    assert "And 450 more launches in your categories this week." in out.text
    design = renderer.render_segment(flooded_digest(500), "Design")
    assert design is not None and "more-launches" not in design.html
    assert len(listed(design.html)) == 10


def test_the_subject_and_preheader_count_every_launch_not_only_those_shown() -> None:
    week = dataclasses.replace(flooded_digest(20_013), comparisons=())
    assert subject_for(week) == "20,013 new AI tools this week"
    assert preheader_for(week) == "20,013 new launches, week of Nov 23."


def test_twenty_thousand_launches_make_a_digest_within_budget(renderer: Renderer) -> None:
    """The issue's feed: 20,013 entries made 3.6 MB of HTML for everyone."""
    out = renderer.render(dataclasses.replace(flooded_digest(20_013), comparisons=()))
    assert out.subject == "20,013 new AI tools this week"
    assert len(listed(out.html)) == 40
    assert "And 19,973 more launches this week." in out.text
    assert len(out.html.encode()) < 40_000


def test_launches_too_long_to_fit_are_left_out_too(renderer: Renderer) -> None:
    """A feed's longest fields (name 300 characters, link 2048) make a launch
    about 3 KB: fewer than the cap are shown, to stay within the budget."""
    out = renderer.render(long_launches_digest())
    size = len(out.html.encode())
    # As many as fit: one more (about 3 KB) would not have.
    assert HTML_BUDGET - 3_500 < size <= HTML_BUDGET
    shown = len(re.findall(r"<b>Long \d+ n+</b>", out.html))
    assert 0 < shown < 40
    found = re.search(r'data-shown="(\d+)" data-more="(\d+)"', out.html)
    assert found and (int(found[1]), int(found[2])) == (shown, 40 - shown)


def test_under_the_cap_nothing_is_summarised(renderer: Renderer) -> None:
    week = seed_digest()
    assert renderer.render(dataclasses.replace(week, max_launches=2)) == renderer.render(week)
    assert "more-launches" not in renderer.render(week).html


def test_the_default_cap_fits_a_heavy_week_with_room_to_spare(renderer: Renderer) -> None:
    """How DIGEST_MAX_LAUNCHES' default was chosen: five comparisons with
    long quotes and that many typical launches, all shown, well within the
    budget (and so within the lint's warning at 90 % of Gmail's clip)."""
    cap = Settings().digest_max_launches
    without = len(renderer.render(big_digest(5, 1)).html.encode())
    out = renderer.render(dataclasses.replace(big_digest(5, cap), max_launches=cap))
    size = len(out.html.encode())
    per_launch = (size - without) / (cap - 1)
    print(f"\n{cap} launches: {size:,} bytes of HTML, {per_launch:.0f} a launch")
    assert "more-launches" not in out.html
    assert 300 < per_launch < 400
    assert size < 0.9 * HTML_BUDGET


def test_mjml_that_does_not_compile_is_placed_by_its_line(tmp_path: Path) -> None:
    """mjml-python says "unexpected end of stream" and nothing of where: the
    error names the rendered line that breaks the markup."""
    shutil.copytree(PROJECT_ROOT / "templates", tmp_path / "templates")
    template = tmp_path / "templates" / "email" / "digest.mjml.j2"
    source = template.read_text()
    template.write_text(source.replace("</mj-column>", "", 1))
    with pytest.raises(RenderError) as caught:
        Renderer(tmp_path / "templates").render(seed_digest())
    message = str(caught.value)
    assert message.startswith("digest.mjml.j2: MJML did not compile: ")
    assert re.search(
        r"\(rendered MJML line \d+, column \d+: mismatched tag: '</mj-section>'\)$", message
    )
