"""The feeds file read within the same budget as content files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.domain.test_documents import alias_bomb
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
