"""The rendered digest in a real browser (Debian's Chromium, headless):
no horizontal scroll at 320 and 375 px, tool columns stacked on a phone and
side by side on a desktop. Screenshots go to test-artifacts/render/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.digests import big_digest, seed_digest
from worker.config import PROJECT_ROOT
from worker.render.renderer import Renderer

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "render"


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    renderer = Renderer(PROJECT_ROOT / "templates")
    big = big_digest(2, 6)
    week = seed_digest()
    week = type(week)(**{**week.__dict__, "comparisons": week.comparisons + big.comparisons})
    path = tmp_path_factory.mktemp("render") / "digest.html"
    path.write_text(renderer.render(week).html, encoding="utf-8")
    return path


def boxes(page: object, name: str) -> list[dict[str, float]]:
    locator = page.get_by_text(name, exact=True)  # type: ignore[attr-defined]
    return [locator.nth(i).bounding_box() for i in range(locator.count())]


@pytest.mark.parametrize("width", [320, 375, 600, 1024])
def test_layout_at_width(browser: object, page_file: Path, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    page.goto(page_file.as_uri())
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"horizontal overflow at {width}px: {scroll}px"
    first = boxes(page, "Claude Files API")[0]
    second = boxes(page, "Claude Haiku Open Weights")[0]
    if width < 480:  # MJML's breakpoint: columns stack
        assert second["y"] > first["y"] + 100 and abs(second["x"] - first["x"]) < 5
    else:
        assert abs(second["y"] - first["y"]) < 5 and second["x"] > first["x"] + 150
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"digest-{width}.png"), full_page=True)
    page.close()


def test_dark_mode(browser: object, page_file: Path) -> None:
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport={"width": 375, "height": 900}, color_scheme="dark"
    )
    page.goto(page_file.as_uri())
    background = page.evaluate(
        "getComputedStyle(document.querySelector('.dm-card')).backgroundColor"
    )
    assert background == "rgb(22, 27, 34)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "digest-375-dark.png"), full_page=True)
    page.close()
