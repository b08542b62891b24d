"""``digest welcome``: the welcome copy, what a newly confirmed subscriber
reads above the latest edition (docs/subscribers.md, "The welcome mail")."""

from pathlib import Path

import click

from worker.cli.common import console, edit_until_valid, load, local_time, sessions_for, user_name
from worker.config import Settings
from worker.deliver.welcome_copy import CurrentWelcome, current_welcome
from worker.domain.editorial import EditorialFileError, WelcomeCopy, read_welcome_copy
from worker.editor.welcome import store_welcome
from worker.render.renderer import WELCOME_PREHEADER, welcome_subject

BY = "Who changes it, recorded with the copy; default: your user name."


@click.group()
def welcome() -> None:
    """The welcome copy: Markdown with a subject and preheader, shown above
    the latest edition in the mail a confirmed subscriber gets."""


@welcome.command()
@click.option("--by", help=BY)
def edit(by: str | None) -> None:
    """Open the welcome copy in use (stored, else the default) in $VISUAL
    or $EDITOR; check it on save (again until it is right, or you give up)
    and store it."""
    settings = load()
    sessions = sessions_for(settings)
    with sessions() as session:
        current = current_welcome(session, settings)
    edited = edit_until_valid(current.copy.source, read_welcome_copy)
    if edited is None:
        _say("nothing stored: the editor was closed without saving")
        return
    if edited.source == current.copy.source:
        _say(f"nothing stored: unchanged ({_origin(settings, current)})")
        return
    with sessions.begin() as session:
        stored = store_welcome(session, settings, edited.source, by or user_name())
    _say(f"welcome copy stored: {_summary(settings, stored.copy)}")


@welcome.command()
def show() -> None:
    """Print the welcome copy in use and where it comes from."""
    settings = load()
    with sessions_for(settings)() as session:
        current = current_welcome(session, settings)
    copy = current.copy
    default = " (the default)"
    _say(f"welcome copy: {_origin(settings, current)}")
    _say(f"subject:   {welcome_subject(copy, settings.list_name)}{'' if copy.subject else default}")
    _say(f"preheader: {copy.preheader or WELCOME_PREHEADER}{'' if copy.preheader else default}")
    _say("")
    click.echo(copy.source.rstrip("\n"))


@welcome.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", help=BY)
def import_(path: Path, by: str | None) -> None:
    """Check a Markdown file and store it as the welcome copy; a file with
    any problem stores nothing."""
    settings = load()
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problem = f"{path}:{line}: not UTF-8 text (byte {error.start + 1} of the file)"
        raise EditorialFileError(str(path), [problem]) from None
    with sessions_for(settings).begin() as session:
        stored = store_welcome(session, settings, text, by or user_name(), str(path))
    _say(f"welcome copy stored from {path}: {_summary(settings, stored.copy)}")


@welcome.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to this file instead of printing it.",
)
def export(output: Path | None) -> None:
    """Print the welcome copy in use (stored, else the default) as a file
    ``digest welcome import`` takes back."""
    settings = load()
    with sessions_for(settings)() as session:
        current = current_welcome(session, settings)
    if output is None:
        click.echo(current.copy.source, nl=not current.copy.source.endswith("\n"))
        return
    output.write_text(current.copy.source, encoding="utf-8")
    _say(f"welcome copy ({_origin(settings, current)}) written to {output}")


def _origin(settings: Settings, current: CurrentWelcome) -> str:
    if current.stored:
        by = f" by {current.updated_by}" if current.updated_by else ""
        return f"stored{by} at {local_time(settings, current.updated_at)}"
    return f"the default, {current.source} (none stored)"


def _summary(settings: Settings, copy: WelcomeCopy) -> str:
    return f'subject "{welcome_subject(copy, settings.list_name)}"'


def _say(line: str) -> None:
    # The copy is the editor's text: never read as rich markup.
    console.print(line, markup=False, highlight=False)
