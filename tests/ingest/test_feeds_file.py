"""The feeds file read within the same budget as content files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.domain.test_documents import alias_bomb
from tests.support.cli import CliRunnerCall
from worker.errors import InputError
from worker.ingest.feeds import load_feeds_file


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("feeds.yaml", alias_bomb().replace("tools:", "feeds:"), "YAML aliases (*a)"),
        ("feeds.yaml", "feeds: " + "[" * 100_000, "nested deeper than 32 levels"),
        ("feeds.toml", "feed = " + "[" * 100_000 + "]" * 100_000, "nested too deep"),
    ],
    ids=["yaml-alias-bomb", "yaml-deep", "toml-deep"],
)
def test_a_feeds_file_beyond_the_budget_is_refused_with_its_place(
    tmp_path: Path, name: str, body: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(InputError) as caught:
        load_feeds_file(path)
    assert caught.value.source == str(path)
    (only,) = caught.value.problems
    assert problem in only


@pytest.mark.parametrize(
    ("name", "body", "problems"),
    [
        (
            "feeds.toml",
            '[[feeds]]\nurl = "https://a.example/feed"\n',
            ["{path}:1: feeds: unknown table; the feeds are [[feed]] tables"],
        ),
        (
            "feeds.toml",
            '[[feed]]\nurl = "https://a.example/feed"\n\n'
            '[[feed]]\nurl = "https://b.example/feed"\ncategroy = "Design"\n',
            ["{path}:6: feed[1].categroy: unknown key; a feed has url, category, title"],
        ),
        (
            "feeds.yaml",
            "feed_list:\n  - url: https://a.example/feed\n",
            ["{path}:1: feed_list: unknown key; the feeds are a 'feeds:' list"],
        ),
        (
            "feeds.yaml",
            "feeds:\n  - url: https://a.example/feed\n    titel: A\n",
            ["{path}:3: feeds[0].titel: unknown key; a feed has url, category, title"],
        ),
    ],
    ids=["toml-table", "toml-key", "yaml-top", "yaml-key"],
)
def test_unknown_tables_and_keys_are_named_with_their_line(
    tmp_path: Path, name: str, body: str, problems: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(InputError) as caught:
        load_feeds_file(path)
    assert caught.value.problems == [p.format(path=path) for p in problems]


def test_ingest_of_a_misnamed_table_fails_instead_of_finding_no_feeds(
    tmp_path: Path, database_url: str
) -> None:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text('[[feeds]]\nurl = "https://a.example/feed"\n')
    done = CliRunnerCall(database_url)("ingest", "--feeds", str(feeds))
    assert done.exit_code == 1
    assert "no feeds configured" not in done.stdout
    assert f"{feeds}:1: feeds: unknown table" in done.stderr
