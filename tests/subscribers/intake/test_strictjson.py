"""Reading JSON from outside within a budget (worker/domain/documents.py,
through subscribers/intake/strictjson.py): the depth counted on the text
agrees with the parsed value's, in one pass whatever the text."""

from __future__ import annotations

import json
import random

import pytest

from subscribers.intake.records import PayloadError
from subscribers.intake.strictjson import load_object
from worker.domain.documents import MAX_DEPTH, deepest

# Strings full of what a naive bracket count would trip on.
TRICKY = ['a"[{\\', '\\\\"]', "\\", '"', "[[", '\\"{', "}}]]", ""]


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def random_value(rng: random.Random, level: int = 0) -> object:
    roll = rng.random()
    if level > 8 or roll < 0.3:
        return rng.choice([*TRICKY, 1, 2.5, None, True])
    if roll < 0.65:
        return [random_value(rng, level + 1) for _ in range(rng.randint(0, 3))]
    return {
        f"{rng.choice(TRICKY)}{n}": random_value(rng, level + 1) for n in range(rng.randint(0, 3))
    }


def test_the_depth_counted_on_the_text_is_the_depth_of_the_value() -> None:
    rng = random.Random(12)
    for _ in range(5000):
        value = [random_value(rng)]
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        assert deepest(text) == depth_of(value), text


def test_the_budget_is_exact() -> None:
    at_budget = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_object('{"a": ' + at_budget[2:-2] + "}", "the body") == {
        "a": json.loads(at_budget[2:-2])
    }
    with pytest.raises(PayloadError, match="nested deeper than 32 levels"):
        load_object('{"a": ' + at_budget + "}", "the body")


@pytest.mark.parametrize(
    "text",
    [
        '"' + 'a\\"[' * 250_000,  # a string that never ends, full of escaped quotes
        '"\\"' * 300_000 + "\\",  # … and a lone backslash at the end
        "[]," * 350_000,
        "[" * 1_000_000,
    ],
)
def test_a_megabyte_is_measured_in_one_pass(text: str) -> None:
    # A regular expression that looked for each string's end from every
    # quote took minutes on the first two; the count stops past the budget.
    assert deepest(text) <= MAX_DEPTH + 1


def test_each_refusal_names_what_is_wrong() -> None:
    cases = {
        b"\xff{}": "the SNS Message: not UTF-8 text (byte 0)",
        b'{"a": NaN}': "the SNS Message: NaN is not a JSON number",
        b'{"a": 1e400}': "the SNS Message: a number too large to keep (1e400)",
        b'{"a": ' + b"1" * 41 + b"}": "the SNS Message: a number longer than 40 characters",
        b'{"a": "\\udfff"}': "the SNS Message: a string holds a NUL character or a lone UTF-16",
        b'{"\\u0000": 1}': "the SNS Message: a string holds a NUL character or a lone UTF-16",
        b"[]": "the SNS Message is not a JSON object",
        b"{": "the SNS Message: line 1, column 2: Expecting property name enclosed in double",
    }
    for data, message in cases.items():
        with pytest.raises(PayloadError) as raised:
            load_object(data, "the SNS Message")
        assert str(raised.value).startswith(message), data
    # A pair of surrogates is one character, written the way JSON allows.
    assert load_object(b'{"a": "\\ud83d\\ude00"}', "x") == {"a": "\U0001f600"}
