"""Reading a content file: every problem named with its place, HTML sanitised."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml

from tests.domain.test_documents import alias_bomb
from worker.config import PROJECT_ROOT
from worker.errors import ImportFileError
from worker.ingest.content import load_content

BAD = PROJECT_ROOT / "tests" / "fixtures" / "content" / "bad.yaml"


def problems_of(path: Path) -> list[str]:
    """The problems reading ``path`` reports; it must report some."""
    with pytest.raises(ImportFileError) as caught:
        load_content(path)
    return caught.value.problems


def test_bad_file_reports_every_problem_with_its_line() -> None:
    problems = problems_of(BAD)
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
    tmp_path: Path, name: str, body: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(ImportFileError, match=fragment) as caught:
        load_content(path)
    assert str(path) in str(caught.value)


def test_a_json_file_names_each_problem_by_its_place_alone(tmp_path: Path) -> None:
    """JSON gives no lines: a problem names the file and its place in it.
    (Looking for a line once never ended, so the read runs on a thread with
    a deadline: a regression fails here instead of hanging the run.)"""
    path = tmp_path / "content.json"
    path.write_text(json.dumps({"tools": [{"slug": "Bad Slug", "name": "A"}], "extra": 1}))
    raised: list[ImportFileError] = []

    def read() -> None:
        try:
            load_content(path)
        except ImportFileError as error:
            raised.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "reading a JSON file with a problem did not end"
    assert raised[0].problems == [
        f"{path}: extra: unknown section (expected 'tools' or 'comparisons')",
        f"{path}: tools[0].slug: 'Bad Slug' is not a slug (lowercase letters, digits, hyphens)",
    ]


def test_a_slug_given_twice_is_a_problem_in_each_section(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "tools:\n  - {slug: a, name: A}\n  - {slug: a, name: B}\n"
        "comparisons:\n  - {slug: c, title: C, tools: [a, b]}\n"
        "  - {slug: c, title: D, tools: [a, b]}\n"
    )
    assert problems_of(path) == [
        f"{path}:3: tools[1].slug: duplicate slug 'a'",
        f"{path}:6: comparisons[1].slug: duplicate slug 'c'",
    ]


def test_description_html_is_sanitised(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "tools:\n  - slug: x\n    name: X\n"
        '    description: \'<p onclick="x()">Hi <script>alert(1)</script>'
        '<a href="javascript:x">l</a></p>\'\n'
    )
    (tool,) = load_content(path).tools
    assert tool.description == '<p>Hi <a rel="noopener noreferrer">l</a></p>'


def test_an_alias_bomb_is_refused_before_any_line_index_is_built(tmp_path: Path) -> None:
    """352 bytes that once took 8.6 GB: the line index stored a key per alias path."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert problems_of(path) == [
        "line 2, column 8: YAML aliases (*a) are not accepted: write the value out"
    ]


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels"),
        ("deep.yaml", "tools: " + "[" * 100_000, "nested deeper than 32 levels"),
        ("nan.json", '{"tools": [{"slug": "x", "name": NaN}]}', "NaN is not a JSON number"),
    ],
)
def test_a_file_beyond_the_budget_is_one_problem(
    tmp_path: Path, name: str, body: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(body)
    (only,) = problems_of(path)
    assert only.endswith(problem)


def test_a_number_that_is_not_finite_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "content.yaml"
    path.write_text("tools:\n  - slug: x\n    name: .nan\n    entry: .inf\n")
    assert problems_of(path) == [
        f"{path}:3: tools[0].name: must be text",
        f"{path}:4: tools[0].entry: must be text",
    ]


def test_a_comparisons_url_is_read_from_yaml_and_json(tmp_path: Path) -> None:
    url = "https://verdicts.example/compare/a-vs-b"
    record = {"slug": "a-vs-b", "title": "A vs B", "url": f" {url} ", "tools": ["a", "b"]}
    written = {
        "content.yaml": yaml.safe_dump({"comparisons": [record]}),
        "content.json": json.dumps({"comparisons": [record]}),
    }
    for name, text in written.items():
        path = tmp_path / name
        path.write_text(text)
        assert [c.url for c in load_content(path).comparisons] == [url], name
    path.write_text(json.dumps({"comparisons": [{**record, "url": None}]}))
    assert [c.url for c in load_content(path).comparisons] == [None]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "'javascript:alert(1)' is not an http(s) URL"),
        ("ftp://files.example/a", "'ftp://files.example/a' is not an http(s) URL"),
        ("/compare/a-vs-b", "'/compare/a-vs-b' is not an http(s) URL"),
        ("https://a.example/\n2", "must be one line"),
        ("https://a.example/" + "x" * 2048, "characters long; the limit is 2048"),
        (42, "'42' is not an http(s) URL"),
    ],
)
def test_a_bad_comparison_url_is_refused_with_its_line(
    tmp_path: Path, url: object, reason: str
) -> None:
    path = tmp_path / "content.yaml"
    path.write_text(
        "comparisons:\n"
        "  - slug: a-vs-b\n"
        "    title: A vs B\n"
        f"    url: {json.dumps(url)}\n"
        "    tools: [a, b]\n"
    )
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:4: comparisons[0].url: "), problem
    assert reason in problem
