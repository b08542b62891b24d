"""JSON from outside (a webhook's body, the SES message inside an SNS one),
read within a budget: every way it can be malformed is a
:class:`~subscribers.intake.records.PayloadError` saying which, never
another exception.

Python's ``json`` parser recurses once per level of nesting, so a body of
100,000 ``[`` would exhaust the stack (a ``RecursionError``, a 500 with a
traceback), and a body just under the interpreter's limit would parse and
then exhaust it in the code that walks the result. So the depth is counted
on the text, brackets inside strings aside, before it is parsed: the
services that post to us nest six levels at most, and :data:`MAX_DEPTH`
leaves room to spare.

Also refused: text that is not UTF-8 (RFC 8259 asks for it), ``NaN`` and
``Infinity`` (not JSON, though Python reads them), a number that does not
fit a float or is longer than :data:`MAX_NUMBER_LENGTH` characters, and
strings that no store can keep (a lone UTF-16 surrogate such as
``"\\ud800"``, or a NUL character).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from subscribers.intake.records import PayloadError

MAX_DEPTH = 32
# Longer than any id or count a service sends (a 64-bit integer has 20 digits).
MAX_NUMBER_LENGTH = 40

_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def load_object(data: bytes | str, what: str) -> dict[str, Any]:
    """The JSON object in ``data``; ``what`` names it in the error
    (``the body``, ``the SNS Message``). Raises PayloadError."""
    text = _text(data, what)
    if deepest(text) > MAX_DEPTH:
        raise PayloadError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        found = json.loads(
            text,
            parse_constant=_not_a_number,
            parse_float=_float,
            parse_int=_int,
        )
    except PayloadError as error:  # from the number hooks below
        raise PayloadError(f"{what} holds {error}") from None
    except ValueError as error:
        raise PayloadError(f"{what} is not JSON: {error}") from None
    if not isinstance(found, dict):
        raise PayloadError(f"{what} is not a JSON object")
    if not _storable(found):
        raise PayloadError(f"{what} holds a NUL character or a lone UTF-16 surrogate")
    return found


def deepest(text: str) -> int:
    """How deep the arrays and objects of JSON ``text`` nest, brackets
    inside strings aside. Text that is not JSON gets a count too, at least
    as deep as the parser would go before it stopped at its first error.
    One pass of C-speed string operations and one over the brackets."""
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
            if depth > MAX_DEPTH:
                break  # deep enough to refuse: the rest is not read
    return deepest_seen


def _text(data: bytes | str, what: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PayloadError(f"{what} is not UTF-8 (byte {error.start})") from None


def _not_a_number(name: str) -> NoReturn:
    raise PayloadError(f"{name}, which is not a JSON number")


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise PayloadError(f"a number longer than {MAX_NUMBER_LENGTH} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise PayloadError(f"a number too large to keep ({literal[:20]})")
    return value


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise PayloadError(f"a number longer than {MAX_NUMBER_LENGTH} characters")
    return int(literal)


def _storable(value: object) -> bool:
    """Whether every string in ``value`` (keys too) can be stored as text.
    Recursive, which the depth check above keeps shallow."""
    if isinstance(value, str):
        return not _UNSTORABLE.search(value)
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True
