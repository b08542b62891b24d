"""The feeds file: TOML or YAML, optional only at its default place, every
bad entry named with its place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from worker.config import PROJECT_ROOT, load_settings
from worker.errors import ConfigError, InputError
from worker.ingest.feeds import FeedSpec, configured_feeds, load_feeds_file


def test_feeds_files_toml_and_yaml(tmp_path: Path) -> None:
    specs = load_feeds_file(PROJECT_ROOT / "sample" / "feeds.toml")
    assert [s.category for s in specs] == ["Developer Tools", None]
    yaml_file = tmp_path / "feeds.yaml"
    yaml_file.write_text("feeds:\n  - url: https://a.example/feed\n    category: Design\n")
    assert load_feeds_file(yaml_file) == [FeedSpec("https://a.example/feed", "Design")]


def test_feeds_are_optional_only_at_the_default_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default feeds.toml is looked for here: none yet
    defaults = load_settings({})
    assert configured_feeds(defaults) == []
    gone = tmp_path / "gone.toml"
    with pytest.raises(ConfigError, match=f"^FEEDS_FILE: {re.escape(str(gone))} does not exist$"):
        configured_feeds(load_settings({"FEEDS_FILE": str(gone)}))
    with pytest.raises(ConfigError, match=r"^--feeds: feeds\.toml does not exist$"):
        configured_feeds(defaults, Path("feeds.toml"))
    (tmp_path / "feeds.toml").write_text('[[feed]]\nurl = "https://a.example/feed"\n')
    assert configured_feeds(defaults) == [FeedSpec("https://a.example/feed")]
    (tmp_path / "feeds.toml").write_text("[[feed]]\n")
    with pytest.raises(InputError, match="feed\\[0\\]: needs a url"):
        configured_feeds(defaults)


@pytest.mark.parametrize(
    ("name", "body", "fragment"),
    [
        ("feeds.toml", "[[feed]]\ntitle = 'no url'\n", "feed[0]: needs a url"),
        ("feeds.toml", "[[feed]]\nurl = 'ftp://x.example/'\n", "feed[0].url: 'ftp://x.example/'"),
        (
            "feeds.toml",
            "[[feed]]\nurl = 'http://x.example:abc/'\n",
            "feed[0].url: 'http://x.example:abc/' is not a valid URL",
        ),
        ("feeds.toml", "[[feed]\nurl = 1", "not valid toml"),
        ("feeds.yaml", "feeds: {url: x}\n", "expected a list of feeds"),
    ],
)
def test_bad_feeds_files_name_the_place(
    tmp_path: Path, name: str, body: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(InputError, match=re.escape(fragment)) as caught:
        load_feeds_file(path)
    assert str(path) in str(caught.value)
    with pytest.raises(InputError, match="cannot read"):
        load_feeds_file(tmp_path / "absent.toml")
