"""The content an editor names on the command line, found in the store:
``launch:1234`` or ``launch:SLUG`` (a launch is a tool: ``tool:SLUG`` is
the same), ``comparison:SLUG`` (or its id), or a bare slug that only one
tool or comparison has. Whatever is not found, or names two things, is a
:class:`ContentError` naming it, with the closest slug where there is one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from worker.errors import DigestError
from worker.store.models import Comparison, Tool

#: The kinds a reference may name; ``launch`` and ``tool`` are one.
KINDS = ("launch", "tool", "comparison")
_LONGEST_ID = 18  # digits: past that it is no id of ours (and no int8)


class ContentError(DigestError):
    """Content an editor named is unknown or ambiguous, or the change asked
    for cannot be made; nothing was changed."""

    hint = "digest content list shows the week's ids and slugs (--all: every tool and comparison)"


@dataclass(frozen=True)
class Item:
    """A tool or a comparison, as found."""

    kind: str  # "tool" or "comparison"
    id: int
    slug: str
    name: str  # a tool's name, a comparison's title

    @property
    def ref(self) -> str:
        """How to name it again: ``tool:SLUG``, ``comparison:SLUG``."""
        return f"{self.kind}:{self.slug}"

    def __str__(self) -> str:
        return f"{self.ref} ({self.name})"


def find_items(session: Session, refs: Iterable[str]) -> list[Item]:
    """The item each of ``refs`` names, in order, each once; a
    :class:`ContentError` naming every reference that finds nothing, or two
    things."""
    found: list[Item] = []
    problems: list[str] = []
    for ref in refs:
        item = _find(session, ref)
        if isinstance(item, str):
            problems.append(item)
        elif item not in found:
            found.append(item)
    if problems:
        raise ContentError("; ".join(problems))
    return found


def _find(session: Session, ref: str) -> Item | str:
    """The item ``ref`` names, or what is wrong with it."""
    kind, key = _parse(ref)
    if kind not in (None, *KINDS):
        close = difflib.get_close_matches(kind, KINDS, n=1)
        said = f"did you mean {close[0]}:{key}?" if close else "use launch:, tool: or comparison:"
        return f"{ref!r}: {kind!r} is not a kind of content ({said})"
    if not key:
        return f"{ref!r} names no item"
    candidates = []
    if kind != "comparison":
        candidates += _items(session, "tool", key, by_id=kind is not None)
    if kind in (None, "comparison"):
        candidates += _items(session, "comparison", key, by_id=kind is not None)
    if len(candidates) > 1:
        named = " and ".join(item.ref for item in candidates)
        return f"{ref!r} names both {named}: say which"
    return candidates[0] if candidates else _not_found(session, kind, key)


def _parse(ref: str) -> tuple[str | None, str]:
    """``kind:key`` → (kind, key); a bare key → (None, key)."""
    kind, colon, key = ref.strip().partition(":")
    if not colon:
        return None, kind
    return kind.strip().lower(), key.strip()


def _items(session: Session, kind: str, key: str, *, by_id: bool) -> list[Item]:
    """The tools (``kind`` "tool") or comparisons whose slug is ``key``, or
    whose id, when ``by_id``."""
    model: type[Tool | Comparison] = Comparison if kind == "comparison" else Tool
    name = Comparison.title if kind == "comparison" else Tool.name
    rows = session.execute(
        select(model.id, model.slug, name)
        .where(or_(model.slug == key, _id_is(model.id, key, by_id)))
        .order_by(model.id)
    )
    return [Item(kind, *row) for row in rows]


def _id_is(column: InstrumentedAttribute[int], key: str, by_id: bool) -> ColumnElement[bool]:
    """``column == key`` for a key that may be an id, else false."""
    if by_id and key.isdigit() and len(key) <= _LONGEST_ID:
        return column == int(key)
    return false()


def _not_found(session: Session, kind: str | None, key: str) -> str:
    whose = "tool or comparison" if kind is None else kind
    by = "slug" if kind is None else "id or slug"
    said = f"no {whose} has the {by} {key!r}"
    known: list[str] = []
    if kind != "comparison":
        known += [f"tool:{slug}" for slug in session.scalars(select(Tool.slug))]
    if kind in (None, "comparison"):
        known += [f"comparison:{slug}" for slug in session.scalars(select(Comparison.slug))]
    close = _closest(key, known)
    if kind is None and _items(session, "tool", key, by_id=True):
        close = f"launch:{key}"  # a bare number is no slug: the launch of that id
    return f"{said} (did you mean {close}?)" if close else said


def _closest(key: str, refs: Sequence[str]) -> str | None:
    """The reference in ``refs`` whose slug is closest to ``key``, if any is close."""
    slugs = {ref.partition(":")[2]: ref for ref in refs}
    close = difflib.get_close_matches(key.lower(), list(slugs), n=1, cutoff=0.75)
    return slugs[close[0]] if close else None
