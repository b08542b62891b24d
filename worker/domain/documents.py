"""Untrusted JSON and YAML text read within a budget.

A parser that recurses (Python's ``json``, PyYAML's composer) turns a deeply
nested document into a ``RecursionError``, and a YAML alias repeated at every
level (a "billion laughs") turns 352 bytes into gigabytes in whatever walks
the result. So nesting is counted, and aliases refused, before the document
is built; NaN and Infinity, which JSON does not have, are refused too. Every
refusal is a :class:`DocumentError` with the line it was found on.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from worker.errors import DigestError

#: Deeper than any document of ours (a content file nests five levels, a
#: webhook body about ten), shallow enough that no reader of it recurses far.
MAX_DEPTH = 32

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class DocumentError(DigestError):
    """A document refused: ``line`` (1-based, or None) and what is wrong."""

    def __init__(
        self, problem: str, line: int | None = None, column: int | None = None, *, hint: str = ""
    ) -> None:
        place = f"line {line}, column {column}: " if line and column else ""
        super().__init__(f"{place}{problem}", hint=hint)
        self.line = line
        self.problem = problem


def load_json(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The value of a JSON document nested at most ``max_depth`` deep."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DocumentError(f"not UTF-8 text (byte {error.start})") from None
    _check_json_depth(text, max_depth)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise DocumentError(error.msg, error.lineno, error.colno) from None
    except ValueError as error:  # NaN, Infinity, a number too long to convert
        raise DocumentError(str(error)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_json_depth(text: str, max_depth: int) -> None:
    """Refuse ``text`` if its brackets (outside strings) nest too deep."""
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise DocumentError(f"nested deeper than {max_depth} levels")
        else:
            depth -= 1


def load_yaml(text: str, max_depth: int = MAX_DEPTH) -> tuple[Any, yaml.Node | None]:
    """The value of a YAML document and its node (which knows each value's
    line), refusing aliases and nesting deeper than ``max_depth``.

    Raises :class:`DocumentError`, or ``yaml.YAMLError`` for text that is not
    YAML at all.
    """
    _check_yaml_events(text, max_depth)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()


def _check_yaml_events(text: str, max_depth: int) -> None:
    """Walk the parser's events (flat, so no recursion): an alias or too deep
    a nesting is refused before any node is composed."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise DocumentError(
                f"YAML aliases (*{event.anchor}) are not accepted: write the value out",
                mark.line + 1,
                mark.column + 1,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                mark = event.start_mark
                raise DocumentError(
                    f"nested deeper than {max_depth} levels", mark.line + 1, mark.column + 1
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def line_index(node: yaml.Node | None) -> dict[str, int]:
    """The line of each place of a YAML document, by the names the readers
    report problems with: ``tools[3].reviews[1].seat``; the whole document
    is ``""``. The depth is bounded by :func:`load_yaml`."""
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines)
    return lines


def _index_lines(
    node: yaml.Node, where: str, lines: dict[str, int], line: int | None = None
) -> None:
    # A mapping's value is placed on its key's line: a block list or mapping
    # starts on the line after, and a problem with the key is on the key's.
    lines[where] = line or node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = f"{where}.{key.value}" if where else str(key.value)
            _index_lines(value, name, lines, key.start_mark.line + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, f"{where}[{index}]", lines)
