"""Content import: the sample file, validation with places, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import PROJECT_ROOT
from worker.errors import ImportFileError
from worker.ingest.importer import import_file
from worker.store.models import Comparison, Review, Tool

SAMPLE = PROJECT_ROOT / "sample" / "content.yaml"
SEED = PROJECT_ROOT.parent / "shared" / "seeds" / "000_b001c558e52ff0ab.txt"
BAD = PROJECT_ROOT / "tests" / "fixtures" / "content" / "bad.yaml"


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_sample_content_imports_the_seed_comparison(sessions: sessionmaker[Session]) -> None:
    summary = import_file(sessions, SAMPLE)
    assert summary.tools_added >= 10 and summary.comparisons_added >= 3
    with sessions() as session:
        seed = session.scalars(
            select(Comparison).where(
                Comparison.slug == "claude-files-api-vs-claude-haiku-open-weights"
            )
        ).one()
        files_api, haiku = (entry.tool for entry in seed.entries)
        assert (files_api.name, files_api.entry_price) == ("Claude Files API", "Paid")
        assert (haiku.name, haiku.entry_price) == ("Claude Haiku Open Weights", "Free")
        assert [r.verdict for r in files_api.reviews] == ["ship"] * 4
        assert [(r.seat, r.verdict) for r in haiku.reviews] == [
            ("builder", "ship"),
            ("skeptic", "skip"),
            ("buyer", "skip"),
            ("futurist", "ship"),
        ]


@pytest.mark.skipif(not SEED.exists(), reason="shared/seeds is not beside the checkout")
def test_sample_holds_the_seed_quotes_verbatim() -> None:
    seed = SEED.read_text(encoding="utf-8")
    content = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    quotes = [r["quote"] for tool in content["tools"][:2] for r in tool["reviews"]]
    assert len(quotes) == 8
    for quote in quotes:
        assert f"“{quote}”" in seed


def test_importing_twice_updates_instead_of_duplicating(sessions: sessionmaker[Session]) -> None:
    import_file(sessions, SAMPLE)
    again = import_file(sessions, SAMPLE)
    assert again.tools_added == 0 and again.comparisons_added == 0
    with sessions() as session:
        tools = count(session, Tool)
        assert count(session, Review) == 4 * 9  # nine reviewed tools in the sample
    assert again.tools_updated == tools


def test_bad_file_reports_every_problem_with_its_line_and_imports_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(ImportFileError) as caught:
        import_file(sessions, BAD)
    problems = caught.value.problems
    text = "\n".join(problems)
    expected = [
        ":5: tools[1].slug: 'Bad Slug' is not a slug",
        ":6: tools[1].name: must be one line",
        ":7: tools[1].url: 'javascript:alert(1)' is not an http(s) URL",
        ":10: tools[2].launched: 'not-a-date' is not a date",
        ":12: tools[2].reviews[0].seat: 'intern' is not one of builder",
        ":13: tools[2].reviews[0].verdict: 'maybe' is not one of ship, skip",
        ":14: tools[2].reviews[0].quote: is required text",
        ":18: tools[2].reviews[2].seat: a second review for the builder seat",
        ":24: comparisons[0].tools: a comparison needs at least two tools",
        ":28: surprise: unknown section",
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert all(p.startswith(str(BAD)) for p in problems)
    with sessions() as session:
        assert count(session, Tool) == 0  # not even the good record


def test_unknown_tool_in_a_comparison_is_named_and_nothing_is_written(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "content.json"
    path.write_text(
        json.dumps(
            {
                "tools": [{"slug": "a", "name": "A"}],
                "comparisons": [{"slug": "c", "title": "C", "tools": ["a", "missing"]}],
            }
        )
    )
    with pytest.raises(ImportFileError, match="no tool with slug 'missing'"):
        import_file(sessions, path)
    with sessions() as session:
        assert count(session, Tool) == 0


def test_comparison_may_name_tools_already_in_the_store(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = tmp_path / "tools.json"
    first.write_text(
        json.dumps({"tools": [{"slug": "a", "name": "A"}, {"slug": "b", "name": "B"}]})
    )
    second = tmp_path / "comparisons.json"
    second.write_text(
        json.dumps({"comparisons": [{"slug": "ab", "title": "A vs B", "tools": ["a", "b"]}]})
    )
    import_file(sessions, first)
    assert import_file(sessions, second).comparisons_added == 1


@pytest.mark.parametrize(
    ("name", "body", "fragment"),
    [
        ("broken.yaml", "tools: [\n  - {", "line 2"),
        ("broken.json", '{"tools": [}', "line 1, column 12"),
        ("empty.yaml", "", "the file is empty"),
        ("list.yaml", "- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_unparseable_files_name_the_place(
    sessions: sessionmaker[Session], tmp_path: Path, name: str, body: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(ImportFileError, match=fragment) as caught:
        import_file(sessions, path)
    assert str(path) in str(caught.value)


def test_description_html_is_sanitised(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "tools:\n  - slug: x\n    name: X\n"
        '    description: \'<p onclick="x()">Hi <script>alert(1)</script>'
        '<a href="javascript:x">l</a></p>\'\n'
    )
    import_file(sessions, path)
    with sessions() as session:
        description = session.scalars(select(Tool.description)).one()
    assert description == '<p>Hi <a rel="noopener noreferrer">l</a></p>'
