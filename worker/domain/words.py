"""Counts said in English, for what the commands print."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str = "") -> str:
    """``count`` and ``noun``, in the plural unless there is one: "1 tool",
    "2 tools", "3 new launches" (``nouns`` where adding "s" or "es" is wrong)."""
    if count == 1:
        return f"1 {noun}"
    if not nouns:
        nouns = noun + ("es" if noun.endswith(("ch", "sh", "s", "x")) else "s")
    return f"{count} {nouns}"
