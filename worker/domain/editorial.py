"""An editor's Markdown files: the edition file of one week and the welcome
copy, each YAML front matter and a Markdown body, as static-site editors
write them.

    ---
    subject: "Files API or open weights? The panel splits"
    order: [claude-files-api-vs-claude-haiku-open-weights]
    exclude: [launch:1234, comparison:prismatic-canvas-vs-sketchloom]
    send_at: 2026-12-01 07:30
    ---
    A short intro in **Markdown**.

Reading a file checks it whole and reports every problem with its line in
the file (:class:`EditorialFileError`); a file with any problem gives
nothing. Whether the items it names exist is a question for the week's
digest (:func:`shape`), asked where the store is read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from worker.domain import markdown
from worker.domain.digest import ComparisonBlock, Digest, Launch
from worker.domain.documents import DocumentError, line_index, load_yaml
from worker.errors import InputError

SUBJECT_MAX = 150  # as a computed subject (worker.render.renderer.SUBJECT_MAX)
PREHEADER_MAX = 200
#: The longest intro accepted; the lint warns well before (a digest is read
#: for its verdicts, and Gmail clips past 102 KB).
BODY_MAX = 10_000
#: The most HTML a welcome copy's body may render to: it sits above the
#: latest edition, which is rendered to at most 90,000 bytes
#: (worker.render.renderer.HTML_BUDGET), and Gmail clips mail over 102 KB.
WELCOME_HTML_MAX = 5_000
#: The kinds an ``order`` or ``exclude`` entry may name: ``launch:1234`` (a
#: launch's id or slug), ``comparison:slug``; a bare slug is a comparison's,
#: else a launch's.
KINDS = ("comparison", "launch")
_DELIMITER = "---"
_SEND_AT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
T = TypeVar("T")


class EditorialFileError(InputError):
    """An edition file or welcome copy refused; ``problems`` are
    ``source:line: field: message``; nothing of it was stored."""


@dataclass(frozen=True)
class ItemRef:
    """An item named in ``order`` or ``exclude``: ``kind`` is ``comparison``,
    ``launch`` or None (a bare slug), ``key`` a slug or a launch's id."""

    kind: str | None
    key: str
    line: int | None = None  # where the file names it

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}" if self.kind else self.key


@dataclass(frozen=True)
class EditionFile:
    """One week's edition file, checked. Everything is optional: an empty
    file is the edition as computed."""

    source: str = ""  # the file's text, as stored and exported
    name: str = "edition file"  # what problems call it: a path, "edition file 2026-W48"
    subject: str | None = None
    preheader: str | None = None
    order: tuple[ItemRef, ...] = ()
    exclude: tuple[ItemRef, ...] = ()
    send_at: dt.datetime | None = None  # naive: wall-clock time in DIGEST_TIMEZONE
    send_at_line: int | None = None
    intro: str = ""  # Markdown
    intro_line: int = 1  # the file's line the intro starts on

    def send_at_in(self, zone: dt.tzinfo) -> dt.datetime | None:
        """``send_at`` as an aware time in ``zone`` (DIGEST_TIMEZONE)."""
        return None if self.send_at is None else self.send_at.replace(tzinfo=zone)


@dataclass(frozen=True)
class WelcomeCopy:
    """The welcome mail's copy: its subject and preheader (None: the
    default's) and a Markdown body shown above the latest edition."""

    source: str = ""
    subject: str | None = None
    preheader: str | None = None
    body: str = ""


EDITION_FIELDS = ("subject", "preheader", "order", "exclude", "send_at")
WELCOME_FIELDS = ("subject", "preheader")


def read_edition_file(text: str, source: str = "edition file") -> EditionFile:
    """``text`` read and checked as an edition file; raises
    :class:`EditorialFileError` naming every bad line."""
    report = _Report(source)
    values, lines, body, body_line = _split(text, EDITION_FIELDS, report)
    subject = _line_text(values, lines, "subject", SUBJECT_MAX, report)
    preheader = _line_text(values, lines, "preheader", PREHEADER_MAX, report)
    order = _refs(values, lines, "order", report)
    exclude = _refs(values, lines, "exclude", report)
    both = {(r.kind, r.key) for r in order} & {(r.kind, r.key) for r in exclude}
    for ref in order:
        if (ref.kind, ref.key) in both:
            report.add(ref.line, "order", f"{ref} is also excluded")
    send_at = _send_at(values, lines, report)
    _check_body(body, body_line, "intro", report)
    report.raise_any()
    return EditionFile(
        source=text,
        name=source,
        subject=subject,
        preheader=preheader,
        order=order,
        exclude=exclude,
        send_at=send_at,
        send_at_line=lines.get("send_at"),
        intro=body,
        intro_line=body_line,
    )


def read_welcome_copy(text: str, source: str = "welcome copy") -> WelcomeCopy:
    """``text`` read and checked as the welcome copy; raises
    :class:`EditorialFileError` naming every bad line."""
    report = _Report(source)
    values, lines, body, body_line = _split(text, WELCOME_FIELDS, report)
    subject = _line_text(values, lines, "subject", SUBJECT_MAX, report)
    preheader = _line_text(values, lines, "preheader", PREHEADER_MAX, report)
    _check_body(body, body_line, "body", report)
    if not report.problems:
        size = len(markdown.to_html(body).encode("utf-8"))
        if size > WELCOME_HTML_MAX:
            report.add(
                body_line,
                "body",
                f"renders to {size:,} bytes of HTML; at most {WELCOME_HTML_MAX:,}, "
                "since the latest edition follows it and Gmail clips mail over 102 KB",
            )
    report.raise_any()
    return WelcomeCopy(source=text, subject=subject, preheader=preheader, body=body)


class _Report:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def add(self, line: int | None, where: str, message: str) -> None:
        place = f"{self.source}:{line}" if line else self.source
        self.problems.append(f"{place}: {where}: {message}" if where else f"{place}: {message}")

    def raise_any(self) -> None:
        if self.problems:
            raise EditorialFileError(self.source, self.problems)


def _split(
    text: str, known: tuple[str, ...], report: _Report
) -> tuple[dict[str, Any], dict[str, int], str, int]:
    """The front matter's values and lines (in the file's numbering), the
    body and the line it starts on. No front matter: all of it is body."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].strip() != _DELIMITER:
        return {}, {}, text.strip("\n"), 1
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _DELIMITER)
    except StopIteration:
        report.add(1, "", "the front matter opened here is never closed by a line '---'")
        return {}, {}, "", 1
    front = "\n".join(lines[1:end])
    body = "\n".join(lines[end + 1 :])
    stripped = body.lstrip("\n")
    body_line = end + 2 + body[: len(body) - len(stripped)].count("\n")
    values, where = _front_matter(front, report)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(known)}"
            report.add(_shift(where.get(str(key))), str(key), f"not a field of this file{hint}")
    return (
        {k: v for k, v in values.items() if k in known},
        {k: n for k, v in where.items() if (n := _shift(v)) is not None},
        stripped.rstrip(),
        body_line,
    )


def _shift(line: int | None) -> int | None:
    # The front matter's first line is the file's second.
    return None if line is None else line + 1


def _front_matter(front: str, report: _Report) -> tuple[dict[str, Any], dict[str, int]]:
    if not front.strip():
        return {}, {}
    try:
        data, node = load_yaml(front)
    except DocumentError as error:
        report.add(_shift(error.line), "", error.problem)
        return {}, {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        report.add(_shift(mark.line + 1) if mark else None, "", f"not valid YAML: {problem}")
        return {}, {}
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        report.add(2, "", "the front matter must be 'field: value' lines")
        return {}, {}
    return {str(k): v for k, v in data.items()}, line_index(node)


def _line_text(
    values: dict[str, Any], lines: dict[str, int], name: str, limit: int, report: _Report
) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    line = lines.get(name)
    if not isinstance(value, str):
        report.add(line, name, "must be text (put it in quotes)")
        return None
    value = value.strip()
    if not value:
        report.add(line, name, "is empty: leave it out to use the computed one")
        return None
    if _CONTROL.search(value):
        report.add(line, name, "must be one line of text")
        return None
    if len(value) > limit:
        report.add(line, name, f"is {len(value)} characters; at most {limit}")
        return None
    return value


def _refs(
    values: dict[str, Any], lines: dict[str, int], name: str, report: _Report
) -> tuple[ItemRef, ...]:
    value = values.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        report.add(lines.get(name), name, "must be a list: [slug, launch:1234, comparison:slug]")
        return ()
    refs: list[ItemRef] = []
    seen: set[tuple[str | None, str]] = set()
    for index, item in enumerate(value):
        line = lines.get(f"{name}[{index}]") or lines.get(name)
        ref = _ref(item, line, f"{name}[{index}]", report)
        if ref is None:
            continue
        if (ref.kind, ref.key) in seen:
            report.add(line, f"{name}[{index}]", f"{ref} is named twice")
            continue
        seen.add((ref.kind, ref.key))
        refs.append(ref)
    return tuple(refs)


def _ref(item: object, line: int | None, where: str, report: _Report) -> ItemRef | None:
    if isinstance(item, int) and not isinstance(item, bool):
        report.add(line, where, f"{item} is a bare number: write launch:{item}")
        return None
    if not isinstance(item, str) or not item.strip():
        report.add(line, where, "must be a slug, launch:ID or comparison:SLUG")
        return None
    kind, _, key = item.strip().rpartition(":")
    key = key.strip()
    if kind and kind.strip() not in KINDS:
        report.add(line, where, f"{kind!r} is not a kind; use {' or '.join(KINDS)}")
        return None
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", key):
        report.add(line, where, f"{key!r} is not a slug or an id")
        return None
    return ItemRef(kind.strip() or None, key, line)


def _send_at(values: dict[str, Any], lines: dict[str, int], report: _Report) -> dt.datetime | None:
    value = values.get("send_at")
    if value is None:
        return None
    line = lines.get("send_at")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            report.add(line, "send_at", "give the time without a zone: it is in DIGEST_TIMEZONE")
            return None
        return value.replace(second=0, microsecond=0)
    if isinstance(value, dt.date):
        report.add(line, "send_at", f"{value} is a day: give the time too, YYYY-MM-DD HH:MM")
        return None
    if isinstance(value, str) and (match := _SEND_AT.match(value.strip())):
        day, hour, minute, _ = match.groups()
        try:
            return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(int(hour), int(minute)))
        except ValueError as error:
            report.add(line, "send_at", f"{value!r} is not a date and time: {error}")
            return None
    report.add(line, "send_at", f"{value!r} is not a time: write YYYY-MM-DD HH:MM")
    return None


def _check_body(body: str, first_line: int, name: str, report: _Report) -> None:
    if len(body) > BODY_MAX:
        report.add(first_line, name, f"is {len(body):,} characters; at most {BODY_MAX:,}")
        return
    for problem in markdown.problems(body):
        report.add(first_line + problem.line - 1, name, problem.message)


class UnknownItemsError(InputError):
    """An edition file names items the week's edition does not have."""


def unknown_items(digest: Digest, edition: EditionFile, source: str = "edition file") -> list[str]:
    """A problem for each item ``order`` or ``exclude`` names that is not
    in ``digest`` (``source:line: launch:1234 is not in week …``)."""
    problems = []
    for ref in (*edition.order, *edition.exclude):
        if not _found(ref, digest):
            place = f"{source}:{ref.line}" if ref.line else source
            problems.append(f"{place}: {ref} is not in week {digest.week}'s edition")
    return problems


def shape(
    digest: Digest, edition: EditionFile, source: str = "edition file", *, strict: bool = True
) -> Digest:
    """``digest`` as the editor's file shapes it: excluded items left out,
    the ``order``'s items first in its order (the rest after, as computed),
    the intro, subject and preheader set. An excluded comparison's tools
    may still be in other comparisons. An item the file names that the
    digest lacks raises :class:`UnknownItemsError` naming each, or with
    ``strict`` off is passed over."""
    problems = unknown_items(digest, edition, source) if strict else []
    if problems:
        raise UnknownItemsError(source, problems)
    excluded_comparisons = _resolve(edition.exclude, digest, "comparison")
    excluded_launches = _resolve(edition.exclude, digest, "launch")
    ordered_comparisons = _resolve(edition.order, digest, "comparison")
    ordered_launches = _resolve(edition.order, digest, "launch")
    comparisons = _ordered(
        [c for c in digest.comparisons if c.slug not in excluded_comparisons],
        ordered_comparisons,
        key=lambda c: c.slug,
    )
    launches = _ordered(
        [item for item in digest.launches if _launch_key(item) not in excluded_launches],
        ordered_launches,
        key=_launch_key,
    )
    return dataclasses.replace(
        digest,
        comparisons=tuple(comparisons),
        launches=tuple(launches),
        intro=edition.intro or None,
        subject=edition.subject,
        preheader=edition.preheader,
        picks=tuple(x.tool_id for x in launches if _launch_key(x) in ordered_launches),
    )


def _launch_key(launch: Launch) -> str:
    return launch.slug


def _matches_launch(ref: ItemRef, launch: Launch) -> bool:
    return ref.key in (launch.slug, str(launch.tool_id))


def _matches_comparison(ref: ItemRef, block: ComparisonBlock) -> bool:
    return ref.key == block.slug


def _found(ref: ItemRef, digest: Digest) -> bool:
    if ref.kind in (None, "comparison") and any(
        _matches_comparison(ref, c) for c in digest.comparisons
    ):
        return True
    return ref.kind in (None, "launch") and any(_matches_launch(ref, x) for x in digest.launches)


def _resolve(refs: Iterable[ItemRef], digest: Digest, kind: str) -> list[str]:
    """The keys of the items of ``kind`` that ``refs`` name, in their order;
    a bare slug is a comparison's when the week has one by it."""
    keys: list[str] = []
    for ref in refs:
        comparison = next((c for c in digest.comparisons if _matches_comparison(ref, c)), None)
        if kind == "comparison" and ref.kind in (None, "comparison") and comparison:
            keys.append(comparison.slug)
        elif kind == "launch" and (ref.kind == "launch" or (ref.kind is None and not comparison)):
            launch = next((x for x in digest.launches if _matches_launch(ref, x)), None)
            if launch is not None:
                keys.append(_launch_key(launch))
    return keys


def _ordered(items: list[T], first: list[str], *, key: Callable[[T], str]) -> list[T]:
    """``items`` with those whose key is in ``first`` moved to the front,
    in ``first``'s order; the rest keep theirs."""
    rank = {k: i for i, k in enumerate(first)}
    head = sorted((i for i in items if key(i) in rank), key=lambda i: rank[key(i)])
    return head + [i for i in items if key(i) not in rank]
