"""``digest report``: an edition's figures on a seeded store (both stores),
as tables, JSON and one HTML page whose charts are inline SVG."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall
from tests.support.reports import EXPECTED, HOSTILE_TITLE, INTRO_LINK, seed_report_world
from worker.config import PROJECT_ROOT, Settings
from worker.domain.weeks import parse_week
from worker.now import process_now
from worker.ops.report import ItemClicks, NothingToReport, edition_report
from worker.ops.report_html import ITEM_BARS, ReportPage

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def seeded(sessions: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    seed_report_world(sessions, settings)
    return sessions


def test_the_figures_of_each_edition_that_went_out(
    seeded: sessionmaker[Session], settings: Settings
) -> None:
    report = edition_report(seeded, settings)
    assert [e.week for e in report.editions] == ["2026-W48", "2026-W47"]  # W49 never went out
    for edition in report.editions:
        figures = {name: getattr(edition, name) for name in EXPECTED[edition.week]}
        assert figures == EXPECTED[edition.week], edition.week
    w48 = report.edition
    assert [(i.item, i.label, i.clicks) for i in w48.items] == [
        ("comparison:parcelbot-vs-loom", HOSTILE_TITLE, 5),
        ("launch:parcelbot", "Parcelbot", 3),
        ("intro:1", INTRO_LINK, 2),  # named by where it went: the edition's render says
    ]
    assert w48.items[2].destination == INTRO_LINK
    assert w48.click_rate == 10.0 and w48.unsubscribe_rate == 1.0
    assert report.editions[1].items[0].label == "Loomwright"


def test_a_week_reports_that_edition_and_those_before_it(
    seeded: sessionmaker[Session], settings: Settings
) -> None:
    report = edition_report(seeded, settings, parse_week("2026-W47"))
    assert [e.week for e in report.editions] == ["2026-W47"]
    for week in ("2026-W49", "2026-W50", "2026-W46"):
        with pytest.raises(NothingToReport, match=f"{week}: no edition of that week went out"):
            edition_report(seeded, settings, parse_week(week))


def test_nothing_went_out_nothing_to_report(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with pytest.raises(NothingToReport, match="no edition has gone out yet"):
        edition_report(sessions, settings)


def test_the_command_prints_tables_json_and_writes_the_page(
    seeded: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    digest = CliRunnerCall(database_url)
    shown = digest("report")
    assert shown.exit_code == 0, shown.output
    assert "2026-W48 (sent) · The verdicts of 2026-W48" in shown.output
    assert "recipients 3 · accepted 1 · deferred 1 · failed 0 · suppressed 1" in shown.output
    assert "unsubscribes 1 (100.0 %) · votes 1 · clicks 10 (1000.0 % of accepted)" in shown.output
    assert f"top items: {HOSTILE_TITLE} (comparison) 5; Parcelbot (launch) 3" in shown.output

    document = json.loads(digest("report", "--json").output)
    assert [e["week"] for e in document["editions"]] == ["2026-W48", "2026-W47"]
    first = document["editions"][0]
    assert {name: first[name] for name in EXPECTED["2026-W48"]} == EXPECTED["2026-W48"]
    assert first["items"][0]["kind"] == "comparison" and first["click_rate"] == 10.0

    page = tmp_path / "report.html"
    written = digest("report", "--week", "2026-W48", "--html", str(page))
    assert written.exit_code == 0 and f"wrote {page}" in written.output
    assert HOSTILE_TITLE not in page.read_text()  # escaped, see below

    missing = digest("report", "--week", "2026-W50")
    assert missing.exit_code == 1 and missing.stderr.splitlines() == [
        "error: 2026-W50: no edition of that week went out",
        "hint: digest status lists the editions and their state",
    ]


def parsed(html: str) -> ET.Element:
    """The page as XML: well-formed, every tag closed, no stray ``<`` or ``&``."""
    return ET.fromstring(html.removeprefix("<!DOCTYPE html>\n"))


def test_the_page_is_well_formed_escapes_everything_and_runs_no_script(
    seeded: sessionmaker[Session], settings: Settings
) -> None:
    html = ReportPage(PROJECT_ROOT / "templates").render(
        edition_report(seeded, settings), process_now()
    )
    assert html.startswith("<!DOCTYPE html>\n<html")
    root = parsed(html)
    assert not root.findall(".//script") and "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Parcelbot &lt;/title&gt;" in html
    texts = "".join(root.itertext())
    assert HOSTILE_TITLE in texts  # shown as written, as text
    svgs = root.findall(f".//{SVG}svg")
    assert len(svgs) == 2
    items, trend = svgs
    assert len(items.findall(f".//{SVG}rect")) == 3  # a bar per item
    widths = [float(r.get("width") or 0) for r in items.findall(f".//{SVG}rect")]
    assert widths[0] > widths[1] > widths[2] > 0  # the most clicked is the longest
    assert len(trend.findall(f".//{SVG}rect")) == 4  # two rates of two editions
    assert not any(e.get("href") for e in root.iter())  # nothing to fetch, nowhere to go


def test_the_page_draws_the_most_clicked_and_lists_every_item(
    seeded: sessionmaker[Session], settings: Settings
) -> None:
    report = edition_report(seeded, settings)
    many = tuple(
        ItemClicks(f"launch:tool-{n}", f"Tool {n}", None, 100 - n) for n in range(ITEM_BARS + 5)
    )
    edition = dataclasses.replace(report.edition, items=many)
    crowded = dataclasses.replace(report, editions=(edition, *report.editions[1:]))
    root = parsed(ReportPage(PROJECT_ROOT / "templates").render(crowded, process_now()))
    items_svg = root.findall(f".//{SVG}svg")[0]
    assert len(items_svg.findall(f".//{SVG}rect")) == ITEM_BARS
    rows = root.findall(".//section")[-1].findall(".//tbody/tr")
    assert len(rows) == ITEM_BARS + 5
