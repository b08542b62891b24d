"""A week's edition file as an editor keeps it: checked against the week,
stored with it (``editor_copy``: a deploy or another machine sees it, and
the clock reads its ``send_at``), read back, and the week's edition rebuilt
when the file changes.

The file's own rules (fields, YAML, Markdown) are
:func:`worker.domain.editorial.read_edition_file`'s. The checks here need
the store: each item ``order`` and ``exclude`` name is in the week's edition
as computed, ``send_at`` is a time still to come, and the edition has not
started (a sending or sent edition is a frozen render). A file with any
problem is refused whole, each problem with its line, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.deliver.editions import (
    BuildResult,
    EditionStateError,
    build_edition,
    find_edition,
    rebuildable,
)
from worker.domain.digest import Digest, Launch
from worker.domain.editorial import (
    EditionFile,
    EditorialFileError,
    read_edition_file,
    shape,
    unknown_items,
)
from worker.domain.launches import by_category, kept_order
from worker.domain.weeks import Week, parse_week
from worker.errors import ConfigError
from worker.gather import gather_computed
from worker.now import process_now
from worker.render.renderer import Renderer, preheader_for, subject_for
from worker.store import upsert
from worker.store.models import Edition, EditorCopy

#: The most an edition file given to import may weigh: the intro is at most
#: 10,000 characters, the front matter a few lines.
FILE_MAX = 64 * 1024
#: The launches a new file's template lists (a flooded week has thousands).
LISTED_LAUNCHES = 100
#: What stands for a computed subject or preheader in a week with nothing new.
NOTHING_NEW = "(none: nothing new this week, so nothing is sent)"
_BY_MAX = 200  # EditorCopy.updated_by
_FILE_NAME = re.compile(r"^\d{4}-W\d{2}$")


@dataclass(frozen=True)
class StoredFile:
    """A week's edition file as stored, and who stored it when."""

    file: EditionFile
    updated_at: dt.datetime
    updated_by: str | None


@dataclass(frozen=True)
class Draft:
    """The text an editor starts from."""

    text: str
    stored: bool  # False: no file yet, the template of the week


@dataclass(frozen=True)
class Effect:
    """What an edition file does to its week, as an editor reads it."""

    subject: str
    subject_set: bool  # False: the computed subject
    preheader: str
    preheader_set: bool
    order: tuple[str, ...]  # as the file writes them
    exclude: tuple[str, ...]
    send_at: dt.datetime | None  # in DIGEST_TIMEZONE; None: when the schedule says
    intro_length: int  # characters of Markdown
    # The items it names that the week no longer has (hidden or removed
    # since it was stored): left out of the shaping, one problem each.
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Saved:
    """An edition file stored, and what became of the week's edition."""

    week: Week
    effect: Effect
    # False: the text is the one stored (or, for a week without a file, one
    # that does nothing): nothing was stored or rebuilt.
    changed: bool
    # The rebuild of the week's edition; None when none was built yet (the
    # build uses the file) or nothing changed. ``built`` False: it started
    # before the rebuild.
    rebuilt: BuildResult | None
    approval_withdrawn: bool


def file_week(path: Path) -> Week | None:
    """The week a file's name gives (``2026-W48.md``), or None."""
    if not _FILE_NAME.match(path.stem):
        return None
    try:
        return parse_week(path.stem)
    except ConfigError:
        return None


def read_file(path: Path) -> str:
    """The text of the edition file at ``path``; an
    :class:`EditorialFileError` when it cannot be read, is not UTF-8 or is
    larger than :data:`FILE_MAX`."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(FILE_MAX + 1)
    except OSError as error:
        raise EditorialFileError(str(path), [f"{path}: cannot read: {error.strerror}"]) from None
    if len(raw) > FILE_MAX:
        problem = f"{path}: larger than {FILE_MAX // 1024} KB; an edition file is a few lines"
        raise EditorialFileError(str(path), [problem])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise EditorialFileError(str(path), [f"{path}:{line}: not UTF-8 text"]) from None


def load_edition_file(path: Path) -> EditionFile:
    """The edition file at ``path``, read (:func:`read_file`) and checked on
    its own, not against a week: one an editor is writing, shown by
    ``digest preview --edition`` and ``digest lint --edition``."""
    return read_edition_file(read_file(path), str(path))


def stored_edition_file(
    sessions: sessionmaker[Session], week: Week, settings: Settings
) -> StoredFile | None:
    """The week's edition file as stored, or None."""
    with sessions() as session:
        row = session.scalar(_stored(week, settings))
    if row is None:
        return None
    return StoredFile(read_edition_file(row.source, _source(week)), row.updated_at, row.updated_by)


@dataclass(frozen=True)
class SendRule:
    """What the schedule says of a week's send (worker.schedule.due, handed
    in by the command: the editor does not import the schedule): the
    regular ``DIGEST_SEND_AT`` time of a week, and why a ``send_at`` (aware)
    cannot be its one-off time (None when it can)."""

    regular: Callable[[Week], dt.datetime | None]
    problem: Callable[[Week, dt.datetime], str | None]


def draft(
    sessions: sessionmaker[Session], week: Week, settings: Settings, rule: SendRule | None = None
) -> Draft:
    """What an editor starts from: the week's file as stored, else a
    template of the computed values and the week's items (:func:`template`),
    with the week's regular send time when ``rule`` gives it."""
    stored = stored_edition_file(sessions, week, settings)
    if stored is not None:
        return Draft(stored.file.source, stored=True)
    with sessions() as session:
        digest = gather_computed(session, week, settings)
    regular = rule.regular(week) if rule else None
    local = regular.astimezone(settings.timezone) if regular else None
    return Draft(template(digest, settings.digest_timezone, local), stored=False)


def refuse_if_started(sessions: sessionmaker[Session], week: Week, settings: Settings) -> None:
    """Raise :class:`EditionStateError` when the week's edition has started
    (sending, paused, sent, cancelled): its file can no longer change."""
    with sessions() as session:
        _refuse_started(session, find_edition(session, settings.list_id, str(week)), week)


def check_edition_file(
    sessions: sessionmaker[Session],
    week: Week,
    settings: Settings,
    text: str,
    source: str,
    now: dt.datetime | None = None,
    rule: SendRule | None = None,
) -> EditionFile:
    """``text`` read as the week's edition file and checked against the
    week (and its ``send_at`` against the schedule's ``rule``), without
    storing it; raises :class:`EditorialFileError` naming each bad line, or
    :class:`EditionStateError` when the edition started."""
    edition_file = read_edition_file(text, source)
    with sessions() as session:
        _refuse_started(session, find_edition(session, settings.list_id, str(week)), week)
        _checked(session, week, settings, edition_file, source, now or process_now(), rule)
    return edition_file


def save_edition_file(
    sessions: sessionmaker[Session],
    week: Week,
    settings: Settings,
    text: str,
    *,
    source: str,
    by: str,
    renderer: Renderer,
    now: dt.datetime | None = None,
    rule: SendRule | None = None,
) -> Saved:
    """Check ``text`` as :func:`check_edition_file` does and store it as
    the week's edition file; then rebuild the week's edition if it is built
    and unsent (which withdraws an approval: it was of the old render). The
    text stored already, or a file that does nothing where there was none,
    changes nothing: no approval is withdrawn by a save of the same."""
    now = now or process_now()
    edition_file = read_edition_file(text, source)
    with sessions.begin() as session:
        # The row lock keeps the edition from starting until the file is stored.
        edition = find_edition(session, settings.list_id, str(week), lock=True)
        _refuse_started(session, edition, week)
        digest = _checked(session, week, settings, edition_file, source, now, rule)
        changed = _changes(session.scalar(_stored(week, settings)), edition_file)
        if changed:
            _store(session, week, settings, edition_file, by[:_BY_MAX], now)
        rebuild = changed and edition is not None
        approved = edition is not None and edition.approved_at is not None
    rebuilt = build_edition(sessions, week, settings, renderer) if rebuild else None
    return Saved(
        week=week,
        effect=effect_of(digest, edition_file, settings),
        changed=changed,
        rebuilt=rebuilt,
        approval_withdrawn=approved and rebuilt is not None and rebuilt.built,
    )


def _changes(stored: EditorCopy | None, edition_file: EditionFile) -> bool:
    """Whether storing ``edition_file`` changes anything. Trailing newlines
    do not count: editors add one on save."""
    if stored is None:
        file = edition_file
        return any(
            (file.subject, file.preheader, file.order, file.exclude, file.send_at, file.intro)
        )
    return stored.source.rstrip("\n") != edition_file.source.rstrip("\n")


def week_effect(
    sessions: sessionmaker[Session], week: Week, settings: Settings, edition_file: EditionFile
) -> Effect:
    """What ``edition_file`` does to the week as the store has it now."""
    with sessions() as session:
        digest = gather_computed(session, week, settings)
    return effect_of(digest, edition_file, settings)


def effect_of(digest: Digest, edition_file: EditionFile, settings: Settings) -> Effect:
    """What ``edition_file`` does to ``digest`` (the week as computed)."""
    shaped = shape(digest, edition_file, strict=False)
    return Effect(
        subject=edition_file.subject or _computed(subject_for, shaped),
        subject_set=edition_file.subject is not None,
        preheader=edition_file.preheader or _computed(preheader_for, shaped),
        preheader_set=edition_file.preheader is not None,
        order=tuple(str(ref) for ref in edition_file.order),
        exclude=tuple(str(ref) for ref in edition_file.exclude),
        send_at=edition_file.send_at_in(settings.timezone),
        intro_length=len(edition_file.intro),
        missing=tuple(unknown_items(digest, edition_file, _source(digest.week))),
    )


def _computed(compute: Callable[[Digest], str], digest: Digest) -> str:
    """A computed subject or preheader; a week with nothing new has none."""
    return NOTHING_NEW if digest.is_empty else compute(digest)


def template(digest: Digest, timezone: str, regular: dt.datetime | None = None) -> str:
    """A new edition file for ``digest``'s week: empty but for comments that
    give the computed values (take the ``#`` off a line to set it), the
    week's regular send time (local) when known, and list the week's items
    with the refs ``order`` and ``exclude`` take."""
    when = f"{regular:%Y-%m-%d %H:%M}" if regular else "YYYY-MM-DD HH:MM"
    scheduled = "; the schedule's time" if regular else ""
    lines = [
        "---",
        f"# The edition file of {digest.week}. Every field is optional: take the",
        "# '# ' off a line to set it; a field left out is as computed.",
        f"# subject: {_quoted(_computed(subject_for, digest))}",
        f"# preheader: {_quoted(_computed(preheader_for, digest))}",
        "# order: []     # these first, in this order; the rest after, as computed",
        "# exclude: []   # left out of this edition",
        f"# send_at: {when}   # in {timezone}, this week only{scheduled}",
        "# The intro goes under the closing '---', in Markdown (links https only).",
        *_item_lines(digest),
        "---",
        "",
        "",
    ]
    return "\n".join(lines)


def _item_lines(digest: Digest) -> list[str]:
    """The week's items as comments: comparisons by slug, launches as
    ``launch:ID``, listed as the email lists them; past the cap, those it
    leaves out (an ordered launch is kept before any)."""
    lines = ["#", "# The week's items, for order and exclude:"]
    if digest.is_empty:
        return [*lines, "#   none: nothing new this week"]
    ordered = kept_order(digest)
    cap = len(ordered) if digest.max_launches is None else digest.max_launches
    kept = {launch.tool_id for launch in ordered[:cap]}
    listed = [launch for _, group in by_category(ordered[:LISTED_LAUNCHES]) for launch in group]
    comparisons = [(c.slug, c.title) for c in digest.comparisons]
    shown = [(f"launch:{x.tool_id}", _launch_name(x)) for x in listed if x.tool_id in kept]
    left_out = [(f"launch:{x.tool_id}", _launch_name(x)) for x in listed if x.tool_id not in kept]
    launches = _aligned(shown, left_out)
    lines += _aligned(comparisons) + launches[: len(shown)]
    if left_out:
        lines.append(f"#   (DIGEST_MAX_LAUNCHES shows {cap}; these only if order names them:)")
        lines += launches[len(shown) :]
    if len(ordered) > LISTED_LAUNCHES:
        more = len(ordered) - LISTED_LAUNCHES
        lines.append(
            f"#   … and {more:,} more: digest content list --week {digest.week} --kind launches"
        )
    return lines


def _aligned(*groups: list[tuple[str, str]]) -> list[str]:
    """Each ``(ref, name)`` of ``groups`` as a comment line, names aligned."""
    pairs = [pair for group in groups for pair in group]
    width = max((len(ref) for ref, _ in pairs), default=0)
    return [f"#   {ref:<{width}}  {_one_line(name)}" for ref, name in pairs]


def _launch_name(launch: Launch) -> str:
    return f"{launch.name} ({launch.category})" if launch.category else launch.name


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quoted(text: str) -> str:
    # A JSON string is a YAML double-quoted scalar: quotes and backslashes escaped.
    return json.dumps(text, ensure_ascii=False)


def _source(week: Week | str) -> str:
    """How the week's stored file is named in a problem (and its export's name)."""
    return f"{week}.md"


def _stored(week: Week, settings: Settings) -> Select[tuple[EditorCopy]]:
    return select(EditorCopy).where(
        EditorCopy.list_id == settings.list_id, EditorCopy.name == str(week)
    )


def _refuse_started(session: Session, edition: Edition | None, week: Week) -> None:
    if edition is not None and not rebuildable(session, edition):
        raise EditionStateError(
            f"{week} is already {edition.status}: its edition file can no longer change",
            hint="an edition that has started is never rendered again; "
            f"digest status --week {week} shows it",
        )


def _checked(
    session: Session,
    week: Week,
    settings: Settings,
    edition_file: EditionFile,
    source: str,
    now: dt.datetime,
    rule: SendRule | None = None,
) -> Digest:
    """The week as computed, once ``edition_file`` has been found to fit it;
    raises :class:`EditorialFileError` naming each line that does not."""
    digest = gather_computed(session, week, settings)
    problems = unknown_items(digest, edition_file, source)
    problem = _send_at_problem(edition_file, week, settings, source, now, rule)
    if problem:
        problems.append(problem)
    if problems:
        raise EditorialFileError(source, problems)
    return digest


def _send_at_problem(
    edition_file: EditionFile,
    week: Week,
    settings: Settings,
    source: str,
    now: dt.datetime,
    rule: SendRule | None,
) -> str | None:
    local = edition_file.send_at_in(settings.timezone)
    if local is None or edition_file.send_at is None:
        return None
    place = f"{source}:{edition_file.send_at_line}: send_at"
    zone = settings.digest_timezone
    said = f"{edition_file.send_at:%Y-%m-%d %H:%M}"
    if local.astimezone(dt.UTC).astimezone(settings.timezone).replace(tzinfo=None) != (
        edition_file.send_at
    ):
        return f"{place}: {said} does not exist in {zone} (the clocks go forward over it)"
    if local <= now:
        current = now.astimezone(settings.timezone)
        return f"{place}: {said} is in the past (it is {current:%Y-%m-%d %H:%M} in {zone})"
    why = rule.problem(week, local.astimezone(dt.UTC)) if rule else None
    return f"{place}: {why}" if why else None


def _store(
    session: Session,
    week: Week,
    settings: Settings,
    edition_file: EditionFile,
    by: str,
    now: dt.datetime,
) -> None:
    local = edition_file.send_at_in(settings.timezone)
    values = {
        "source": edition_file.source,
        "send_at": None if local is None else local.astimezone(dt.UTC),
        "updated_at": now,
        "updated_by": by,
    }
    statement = upsert(session, EditorCopy).values(
        list_id=settings.list_id, name=str(week), **values
    )
    session.execute(
        statement.on_conflict_do_update(index_elements=["list_id", "name"], set_=values)
    )
