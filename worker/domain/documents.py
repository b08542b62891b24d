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
import math
import re
from typing import Any

import yaml

from worker.errors import DigestError

#: Deeper than any document of ours (a content file nests five levels, a
#: webhook body about ten), shallow enough that no reader of it recurses far.
MAX_DEPTH = 32

# Longer than any id or count anyone sends (a 64-bit integer has 20 digits).
MAX_NUMBER_LENGTH = 40

_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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
    """The value of a JSON document nested at most ``max_depth`` deep.

    Also refused: text that is not UTF-8 (RFC 8259 asks for it), ``NaN``
    and ``Infinity`` (not JSON, though Python reads them), a number that
    does not fit a float or is longer than :data:`MAX_NUMBER_LENGTH`
    characters, and strings no store can keep (a NUL, or a lone UTF-16
    surrogate such as ``"\\ud800"``: PostgreSQL refuses both).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DocumentError(f"not UTF-8 text (byte {error.start})") from None
    if deepest(text, max_depth) > max_depth:
        raise DocumentError(f"nested deeper than {max_depth} levels")
    try:
        found = json.loads(text, parse_constant=_no_constant, parse_float=_float, parse_int=_int)
    except DocumentError:
        raise
    except json.JSONDecodeError as error:
        raise DocumentError(error.msg, error.lineno, error.colno) from None
    except ValueError as error:
        raise DocumentError(str(error)) from None
    if not _storable(found):
        raise DocumentError("a string holds a NUL character or a lone UTF-16 surrogate")
    return found


def deepest(text: str, enough: int = MAX_DEPTH) -> int:
    """How deep the arrays and objects of JSON ``text`` nest, brackets
    inside strings aside; counting stops past ``enough``. Text that is not
    JSON gets a count too, at least as deep as the parser would go before
    its first error. One pass of C-speed string operations, one over the
    brackets: a regular expression for strings took minutes on a megabyte
    of escaped quotes."""
    # Escapes first, "\\" before "\"", so that no quote is left escaped:
    # then every quote opens or closes a string, and the text outside
    # strings is every other piece.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(unescaped.split('"')[0::2])
    depth = deepest_seen = 0
    for bracket in _NOT_A_BRACKET.sub("", outside):
        depth += 1 if bracket in "[{" else -1
        if depth > deepest_seen:
            deepest_seen = depth
            if depth > enough:
                break
    return deepest_seen


def _no_constant(name: str) -> Any:
    raise DocumentError(f"{name} is not a JSON number")


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise DocumentError(f"a number longer than {MAX_NUMBER_LENGTH} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise DocumentError(f"a number too large to keep ({literal[:20]})")
    return value


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise DocumentError(f"a number longer than {MAX_NUMBER_LENGTH} characters")
    return int(literal)


def _storable(value: object) -> bool:
    """Whether every string in ``value`` (keys too) can be stored as text.
    Recursive, which the depth check keeps shallow."""
    if isinstance(value, str):
        return not _UNSTORABLE.search(value)
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


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
