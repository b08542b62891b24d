"""Untrusted JSON and YAML read within a budget: no aliases, bounded nesting,
no NaN, each refusal with its line."""

from __future__ import annotations

import pytest

from worker.domain.documents import MAX_DEPTH, DocumentError, load_json, load_yaml


def alias_bomb() -> str:
    """Nine levels of nine aliases: 352 bytes that stand for 9⁹ strings."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    lines.append("tools: *i")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_its_first_alias() -> None:
    bomb = alias_bomb()
    assert len(bomb) < 400
    with pytest.raises(DocumentError, match=r"line 2, column \d+: YAML aliases \(\*a\)"):
        load_yaml(bomb)


def test_a_merge_key_is_an_alias_too() -> None:
    with pytest.raises(DocumentError, match="aliases"):
        load_yaml("base: &base {a: 1}\ntool:\n  <<: *base\n")


def test_anchors_without_aliases_and_plain_documents_load_with_their_lines() -> None:
    data, node = load_yaml("tools: &t\n  - slug: a\n    name: A\n")
    assert data == {"tools": [{"slug": "a", "name": "A"}]}
    assert node is not None and node.start_mark.line == 0
    assert load_yaml("") == (None, None)


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "a:\n" + "".join("  " * n + f"k{n}:\n" for n in range(1, MAX_DEPTH + 2)) + "  " * 40 + "x",
        "[" * 100_000,
    ],
    ids=["flow", "block", "unclosed-100000"],
)
def test_yaml_nested_too_deep_is_refused_before_it_is_composed(text: str) -> None:
    with pytest.raises(DocumentError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_yaml(text)


def test_json_nesting_is_counted_outside_strings() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(DocumentError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_json(deep)
    with pytest.raises(DocumentError, match="nested deeper"):
        load_json("[" * 200_000 + "]" * 200_000)
    brackets_in_a_string = '{"a": "' + "[{" * 1000 + '\\"]"}'
    assert load_json(brackets_in_a_string) == {"a": "[{" * 1000 + '"]'}
    assert load_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": ' + "9" * 5000 + "}", "a number longer than 40 characters"),
        ('{"a": 1,\n "b": }', "line 2, column 7: Expecting value"),
        (b'{"a": "\xff"}', r"not UTF-8 text \(byte 7\)"),
    ],
    ids=["nan", "infinity", "huge-number", "syntax", "not-utf8"],
)
def test_what_json_does_not_allow_is_refused_with_its_place(
    text: str | bytes, fragment: str
) -> None:
    with pytest.raises(DocumentError, match=fragment):
        load_json(text)
