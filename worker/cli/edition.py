"""``digest edition``: the week's edition file (intro, subject, preheader,
order, exclusions, a one-off send time), edited, shown, imported and
exported. See docs/editing.md."""

import functools
from pathlib import Path

import click
from rich.markup import escape
from sqlalchemy.orm import Session, sessionmaker

from worker.cli.common import (
    COMING,
    coming,
    console,
    edit_until_valid,
    errors,
    fail,
    load,
    local_time,
    sessions_for,
    user_name,
)
from worker.config import Settings
from worker.domain.editorial import EditionFile
from worker.domain.weeks import Week
from worker.domain.words import plural
from worker.editor.editionfile import (
    Effect,
    Saved,
    SendRule,
    check_edition_file,
    draft,
    file_week,
    read_file,
    refuse_if_started,
    save_edition_file,
    stored_edition_file,
    week_effect,
)
from worker.render.renderer import Renderer
from worker.schedule.due import regular_send_time, send_at_problem

NOT_CHANGED = "not changed; the edition file is as it was"


@click.group()
def edition() -> None:
    """The week's edition file: intro, subject, preheader, order,
    exclusions and a one-off send time (docs/editing.md)."""


@edition.command("edit")
@click.option("--week", help=COMING)
def edition_edit(week: str | None) -> None:
    """Open the week's edition file in $VISUAL or $EDITOR (a new one is
    seeded with the computed values and the week's items as comments). On
    save it is checked and stored, and a built, unsent edition rebuilt;
    quit without saving and nothing changes."""
    settings = load()
    sessions = sessions_for(settings)
    the_week = coming(settings, week)
    refuse_if_started(sessions, the_week, settings)
    source = f"{the_week}.md"
    rule = send_rule(settings)
    checked = edit_until_valid(
        draft(sessions, the_week, settings, rule).text,
        lambda text: check_edition_file(sessions, the_week, settings, text, source, rule=rule),
    )
    if checked is None:
        console.print(f"{the_week}: {NOT_CHANGED}")
        return
    _save(settings, sessions, the_week, checked.source, source)


@edition.command("show")
@click.option("--week", help=COMING)
def edition_show(week: str | None) -> None:
    """What the week's edition file does, and the file as stored."""
    settings = load()
    sessions = sessions_for(settings)
    the_week = coming(settings, week)
    stored = stored_edition_file(sessions, the_week, settings)
    if stored is None:
        console.print(f"{the_week}: no edition file; the edition is as computed")
        _print_effect(settings, week_effect(sessions, the_week, settings, EditionFile()))
        return
    by = escape(stored.updated_by or "unknown")
    when = local_time(settings, stored.updated_at)
    console.print(f"{the_week}: edition file saved {when} by {by}", highlight=False)
    _print_effect(settings, week_effect(sessions, the_week, settings, stored.file))
    console.print()
    click.echo(stored.file.source)


@edition.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--week",
    help="ISO week, e.g. 2026-W48; default: the file's name (2026-W48.md), "
    "else the edition of the coming send.",
)
def edition_import(path: Path, week: str | None) -> None:
    """Check FILE as the week's edition file and store it, as `edit` does
    on save; a file with problems is refused whole, each named by line."""
    settings = load()
    the_week = coming(settings, week, file_week(path))
    _save(settings, sessions_for(settings), the_week, read_file(path), str(path))


@edition.command("export")
@click.option("--week", help=COMING)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write it to this file; default: standard output.",
)
def edition_export(week: str | None, output: Path | None) -> None:
    """The week's edition file as stored (a week without one: the template
    `edit` starts from), for `import` after editing it elsewhere."""
    settings = load()
    the_week = coming(settings, week)
    start = draft(sessions_for(settings), the_week, settings, send_rule(settings))
    if not start.stored:
        errors.print(f"{the_week}: no edition file yet; this is the template to start from")
    if output is None:
        click.echo(start.text, nl=False)
        return
    try:
        output.write_text(start.text, encoding="utf-8")
    except OSError as error:
        fail(f"{output}: cannot write: {error.strerror}")
    console.print(f"{the_week}: edition file written to {escape(str(output))}", highlight=False)


def _save(
    settings: Settings, sessions: sessionmaker[Session], week: Week, text: str, source: str
) -> None:
    saved = save_edition_file(
        sessions,
        week,
        settings,
        text,
        source=source,
        by=user_name(),
        renderer=Renderer(settings.templates_dir),
        rule=send_rule(settings),
    )
    if not saved.changed:
        console.print(f"{week}: {NOT_CHANGED}")
        return
    console.print(f"{week}: edition file saved", highlight=False)
    _print_effect(settings, saved.effect)
    _print_rebuild(saved)


def send_rule(settings: Settings) -> SendRule:
    """The schedule's word on a week's send time, for the editor's checks."""
    return SendRule(
        regular=functools.partial(regular_send_time, settings),
        problem=functools.partial(send_at_problem, settings),
    )


def _print_effect(settings: Settings, effect: Effect) -> None:
    """What the file does, a line a field; ``(computed)`` for what it leaves."""

    def said(value: str, set_by_file: bool) -> str:
        return escape(value) + ("" if set_by_file else " [dim](computed)[/]")

    send_at = (
        f"{local_time(settings, effect.send_at)}, this week only"
        if effect.send_at
        else "as the schedule says (DIGEST_SEND_AT)"
    )
    for label, value in (
        ("subject", said(effect.subject, effect.subject_set)),
        ("preheader", said(effect.preheader, effect.preheader_set)),
        ("order", escape(", ".join(effect.order)) or "as computed"),
        ("excluded", escape(", ".join(effect.exclude)) or "nothing"),
        ("send_at", send_at),
        ("intro", plural(effect.intro_length, "character") if effect.intro_length else "none"),
    ):
        console.print(f"  {label:<10} {value}", highlight=False)
    for problem in effect.missing:
        errors.print(
            f"[yellow]note:[/] {escape(problem)}: hidden or removed since; left out",
            highlight=False,
        )


def _print_rebuild(saved: Saved) -> None:
    week, rebuilt = saved.week, saved.rebuilt
    if rebuilt is None:
        console.print(f"{week}: no edition built yet; its build will use this file")
    elif not rebuilt.built:
        errors.print(
            f"[yellow]warning:[/] {week}: the edition started ({rebuilt.status}) before it "
            "could be rebuilt: it goes out as built before this change",
            highlight=False,
        )
    elif rebuilt.status == "skipped":
        console.print(f"{week}: edition rebuilt: nothing new this week, recorded as skipped")
    else:
        segments = plural(len(rebuilt.segments), "segment")
        subject = escape(rebuilt.subject or "")
        console.print(
            f"{week}: edition rebuilt \u201c{subject}\u201d for {segments}", highlight=False
        )
    if saved.approval_withdrawn:
        console.print(
            f"{week}: the rebuild withdrew the edition's approval; look at it again "
            f"(digest preview --week {week}) and approve it: digest approve --week {week}",
            highlight=False,
        )
