"""The rendered digest in a real browser (Debian's Chromium, headless).

The verdict tables: each row's values start on one line at 600 px; on a
phone two tools stay one table and three stack by tool; nothing scrolls
sideways at 320 and 375 px, long names included; every text of a
comparison meets WCAG contrast (4.5:1, the ✓/✗ marks 3:1) in light and
dark mode. Screenshots go to test-artifacts/render/."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.digests import big_digest, long_names_comparison, seed_digest
from worker.config import PROJECT_ROOT
from worker.render.renderer import COLOURS, Renderer

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "render"
PHONE = 480  # below it, MJML stacks columns and the digest's phone rules apply

# Per verdict table (table.vt) and row: the top of each value cell's first
# line of content (the cell boxes of a row always line up; their text need not).
ROW_TOPS = """() => Array.from(document.querySelectorAll('table.vt')).map(table => ({
  tools: table.rows[0].cells.length - 1,
  shown: table.getClientRects().length > 0,
  rows: Array.from(table.rows).map(row => Array.from(row.cells).slice(1).map(cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    const tops = Array.from(range.getClientRects()).filter(r => r.height > 0).map(r => r.top);
    return tops.length ? Math.min(...tops) : null;
  })),
  cells: Array.from(table.rows[1].cells).slice(1).map(cell => {
    const box = cell.getBoundingClientRect();
    return {x: box.left, y: box.top};
  }),
}))"""

# Every cell whose content is wider than the cell: text running into the next column.
SPILLS = """() => Array.from(document.querySelectorAll('table.vt td, table.vt th'))
  .filter(cell => cell.getClientRects().length && cell.scrollWidth > cell.clientWidth + 1)
  .map(cell => cell.textContent.slice(0, 60))"""

# The phone blocks of each three-tool comparison: shown or not, and each
# tool's box and the width of the rule above it.
STACKS = """() => Array.from(document.querySelectorAll('.vt-stack')).map(stack => ({
  shown: stack.getClientRects().length > 0 && stack.getBoundingClientRect().height > 0,
  tools: Array.from(stack.querySelectorAll('.vt-tool')).map(tool => {
    const box = tool.getBoundingClientRect();
    return {x: box.left, top: box.top, bottom: box.bottom,
            rule: parseFloat(getComputedStyle(tool).borderTopWidth)};
  }),
}))"""

# Every shown element of the comparison blocks that holds text of its own:
# its colour, the colour behind it (the nearest ancestor's background that
# is not transparent), and whether it is a ✓/✗ mark.
COLOURS_SHOWN = """() => {
  const behind = el => {
    for (; el; el = el.parentElement) {
      const bg = getComputedStyle(el).backgroundColor;
      if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg;
    }
    return 'rgb(255, 255, 255)';
  };
  return Array.from(document.querySelectorAll('.vt-box *'))
    .filter(el => el.getClientRects().length && Array.from(el.childNodes).some(
      n => n.nodeType === 3 && n.textContent.trim()))
    .map(el => ({text: el.textContent.trim().slice(0, 100), fg: getComputedStyle(el).color,
                 bg: behind(el), mark: /mark-/.test(el.className)}));
}"""


def _week() -> Any:
    """The seed comparison, a two-tool and a three-tool one from the heavy
    week, and the longest names in comparisons of two, three and four."""
    seed = seed_digest()
    big = big_digest(2, 2)
    longest = tuple(long_names_comparison(n) for n in (2, 3, 4))
    return dataclasses.replace(seed, comparisons=(*seed.comparisons, *big.comparisons, *longest))


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("render") / "digest.html"
    path.write_text(Renderer(PROJECT_ROOT / "templates").render(_week()).html, encoding="utf-8")
    return path


def open_page(browser: Any, page_file: Path, width: int, scheme: str = "light") -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(page_file.as_uri())
    return page


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def boxes(page: Any, name: str) -> list[dict[str, float]]:
    locator = page.get_by_text(name, exact=True)
    return [locator.nth(i).bounding_box() for i in range(locator.count())]


@pytest.mark.parametrize("width", [320, 375, 600, 1024])
def test_layout_at_width(browser: Any, page_file: Path, width: int) -> None:
    page = open_page(browser, page_file, width)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"horizontal overflow at {width}px: {scroll}px"
    assert page.evaluate(SPILLS) == [], f"content wider than its cell at {width}px"
    # Two tools: side by side at every width, a phone's included.
    first = boxes(page, "Claude Files API")[0]
    second = boxes(page, "Claude Haiku Open Weights")[0]
    assert abs(second["y"] - first["y"]) < 2 and second["x"] > first["x"] + 80
    screenshot(page, f"digest-{width}.png")
    page.close()


@pytest.mark.parametrize("width", [600, 1024])
def test_each_rows_values_start_on_one_line(browser: Any, page_file: Path, width: int) -> None:
    page = open_page(browser, page_file, width)
    tables = page.evaluate(ROW_TOPS)
    assert sorted(t["tools"] for t in tables) == [2, 2, 2, 3, 3]
    for table in tables:
        assert table["shown"]
        for number, tops in enumerate(table["rows"]):
            found = [top for top in tops if top is not None]
            assert len(found) >= 2, (table["tools"], number, tops)
            assert max(found) - min(found) <= 2, (table["tools"], number, tops)
    page.close()


@pytest.mark.parametrize("width", [320, 375])
def test_on_a_phone_two_tools_stay_a_table_and_three_stack(
    browser: Any, page_file: Path, width: int
) -> None:
    page = open_page(browser, page_file, width)
    tables = page.evaluate(ROW_TOPS)
    two = [t for t in tables if t["tools"] == 2]
    assert len(two) == 3 and all(t["shown"] for t in two)
    for table in two:
        left, right = table["cells"]
        assert abs(left["y"] - right["y"]) < 1 and right["x"] > left["x"] + 50
        for tops in table["rows"]:
            found = [top for top in tops if top is not None]
            assert max(found) - min(found) <= 2, tops
    assert not any(t["shown"] for t in tables if t["tools"] == 3)
    stacks = page.evaluate(STACKS)
    assert len(stacks) == 2
    for stack in stacks:
        assert stack["shown"]
        tools = stack["tools"]
        assert len(tools) == 3
        for before, after in itertools.pairwise(tools):
            assert after["top"] >= before["bottom"] - 1 and abs(after["x"] - before["x"]) < 2
            assert after["rule"] == 3  # the divider between two tools
    page.close()


def test_at_600_px_the_phone_blocks_stay_hidden(browser: Any, page_file: Path) -> None:
    page = open_page(browser, page_file, 600)
    assert [stack["shown"] for stack in page.evaluate(STACKS)] == [False, False]
    page.close()


def _luminance(rgb: tuple[float, ...]) -> float:
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two CSS ``rgb()`` colours."""
    lighter, darker = sorted(
        (
            _luminance(tuple(float(x) for x in re.findall(r"[\d.]+", c)))
            for c in (foreground, background)
        ),
        reverse=True,
    )
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_is_computed_as_wcag_says() -> None:
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert round(contrast("rgb(89, 99, 110)", "rgb(22, 27, 34)"), 2) == 2.83  # muted, once


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.parametrize("width", [375, 600])
def test_every_text_of_a_comparison_is_readable(
    browser: Any, page_file: Path, scheme: str, width: int
) -> None:
    """Text at 4.5:1 against what is behind it, the ✓/✗ marks at 3:1:
    "N of 4", vendors, labels and the vote buttons included."""
    page = open_page(browser, page_file, width, scheme)
    shown = page.evaluate(COLOURS_SHOWN)
    texts = {item["text"] for item in shown}
    tagline = seed_digest().comparisons[0].tools[0].tagline
    assert {"✓ ship", "✗ skip", "4 of 4", "Panel ship", "✓ Ship it", tagline} <= texts
    assert any(item["mark"] for item in shown)
    for item in shown:
        least = 3.0 if item["mark"] else 4.5
        ratio = contrast(item["fg"], item["bg"])
        assert ratio >= least, (
            f"{scheme} {item['text']!r}: {item['fg']} on {item['bg']}: {ratio:.2f}"
        )
    if scheme == "dark":
        card = page.evaluate("getComputedStyle(document.querySelector('.dm-card')).backgroundColor")
        assert card == _rgb(COLOURS["dark_card"])
        rules = page.evaluate(
            "Array.from(document.querySelectorAll('table.vt tr'))"
            ".map(row => getComputedStyle(row).borderTopColor)"
        )
        assert set(rules) == {_rgb(COLOURS["dark_rule"])}  # no light rules on a dark card
        screenshot(page, f"digest-{width}-dark.png")
    page.close()


def test_outlook_com_dark_rules_reach_the_marks_and_small_text(
    browser: Any, page_file: Path
) -> None:
    """Outlook.com marks what it darkens with data-ogsc and takes no media
    query: its own rules give the marks and small text their dark colours."""
    page = open_page(browser, page_file, 600)
    page.evaluate("document.body.setAttribute('data-ogsc', '')")
    colour = "el => getComputedStyle(el).color"
    for name, css_class in {
        "dark_ship": "mark-ship",
        "dark_skip": "mark-skip",
        "dark_muted": "muted",
    }.items():
        found = page.locator(f".vt .{css_class}").first.evaluate(colour)
        assert found == _rgb(COLOURS[name]), css_class
    page.close()


def _rgb(colour: str) -> str:
    """A ``#rrggbb`` colour as getComputedStyle gives it."""
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))
