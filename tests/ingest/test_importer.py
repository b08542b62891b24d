"""Content import: the sample file, updates by slug, all or nothing."""

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


def test_a_file_with_any_problem_imports_nothing(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ImportFileError) as caught:
        import_file(sessions, BAD)
    assert any(":28: surprise: unknown section" in p for p in caught.value.problems)
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


def test_a_comparisons_url_is_stored_and_a_later_import_without_it_clears_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    url = "https://verdicts.example/compare/a-vs-b"
    tools = [{"slug": "a", "name": "A"}, {"slug": "b", "name": "B"}]
    comparison = {"slug": "a-vs-b", "title": "A vs B", "tools": ["a", "b"]}
    path = tmp_path / "content.json"
    stored = []
    for given in ({**comparison, "url": url}, comparison):
        path.write_text(json.dumps({"tools": tools, "comparisons": [given]}))
        import_file(sessions, path)
        with sessions() as session:
            stored.append(session.scalar(select(Comparison.url)))
    assert stored == [url, None]


def test_a_bad_comparison_url_imports_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "content.yaml"
    path.write_text(
        "tools:\n  - {slug: a, name: A}\n  - {slug: b, name: B}\n"
        "comparisons:\n  - {slug: a-vs-b, title: A vs B, url: 'javascript:x', tools: [a, b]}\n"
    )
    with pytest.raises(ImportFileError) as caught:
        import_file(sessions, path)
    assert caught.value.problems == [
        f"{path}:5: comparisons[0].url: 'javascript:x' is not an http(s) URL"
    ]
    with sessions() as session:
        assert count(session, Tool) == 0 and count(session, Comparison) == 0
