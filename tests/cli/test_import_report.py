"""`digest import` says what it did in English, and names the line of every
problem, the unknown tool's included (issue 13)."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import CliRunnerCall

TOOL = "  - slug: {slug}\n    name: {slug}\n"


def test_counts_are_said_in_the_singular_and_the_plural(
    digest: CliRunnerCall, tmp_path: Path
) -> None:
    first = tmp_path / "first.yaml"
    first.write_text("tools:\n" + TOOL.format(slug="alpha") + TOOL.format(slug="beta"))
    second = tmp_path / "second.yaml"
    second.write_text(
        "tools:\n"
        + TOOL.format(slug="gamma")
        + "comparisons:\n  - slug: alpha-vs-gamma\n    title: Alpha vs Gamma\n"
        "    tools: [alpha, gamma]\n"
    )
    done = digest("import", str(first))
    assert done.stdout.strip() == (
        f"{first}: 2 tools added, 0 updated, 0 reviews, 0 comparisons added, 0 updated"
    )
    done = digest("import", str(second))
    assert done.stdout.strip() == (
        f"{second}: 1 tool added, 0 updated, 0 reviews, 1 comparison added, 0 updated"
    )


def test_an_unknown_tool_is_named_with_its_file_and_line(
    digest: CliRunnerCall, tmp_path: Path
) -> None:
    path = tmp_path / "content.yaml"
    path.write_text(
        "tools:\n" + TOOL.format(slug="alpha") + "comparisons:\n"
        "  - slug: alpha-vs-missing\n"
        "    title: Alpha vs Missing\n"
        "    tools:\n"
        "      - alpha\n"
        "      - missing\n"
    )
    done = digest("import", str(path))
    assert done.exit_code == 1
    assert f"{path}:9: comparisons[0].tools[1]: no tool with slug 'missing'" in done.stderr
