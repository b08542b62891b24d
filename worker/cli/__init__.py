"""The ``digest`` command: one module per command group, each command
parsing its options, calling one function and printing what it returned.

Every command reads its settings from the environment (see
``docs/configuration.md``). Every error is printed as one clear message,
without a traceback (``-v`` adds it), and exits with status 1: one place
does that for every command (:func:`worker.cli.common.errors_as_lines`).

Commands are registered by name and their module is imported when the
command runs: importing every command's modules (Flask, APScheduler, the
preview server) costs about 0.8 s of start-up, which ``digest tick`` from
cron would pay every minute for nothing.
"""

from __future__ import annotations

import importlib

import click

from worker.cli.common import errors, errors_as_lines
from worker.logs import configure_logging

#: Each command's name and where it lives, ``module:attribute`` in this package.
COMMANDS = {
    "db": "db:db",
    "ingest": "content:ingest",
    "import": "content:import_",
    "content": "content:content",
    "build": "editions:build",
    "send": "editions:send",
    "pause": "editions:pause",
    "resume": "editions:resume",
    "cancel": "editions:cancel",
    "approve": "editions:approve",
    "hold": "editions:hold",
    "edition": "edition:edition",
    "worker": "delivery:worker",
    "clock": "schedule:clock",
    "tick": "schedule:tick",
    "status": "ops:status",
    "report": "ops:report_command",
    "check": "ops:check",
    "preview": "editor:preview",
    "lint": "editor:lint",
    "demo": "editor:demo",
    "welcome": "welcome:welcome",
    "subscribers": "subscribers:subscribers",
    "bounces": "bounces:bounces",
    "web": "web:web",
    "webhooks": "webhooks:webhooks",
}


class _CommandsByName(click.Group):
    """A group whose commands are imported from :data:`COMMANDS` when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"COMMANDS[{cmd_name!r}]: {COMMANDS[cmd_name]} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> object:
        with errors_as_lines(verbose=bool(ctx.params.get("verbose"))):
            return super().invoke(ctx)


@click.group(cls=_CommandsByName)
@click.option("-v", "--verbose", is_flag=True, help="Log progress (INFO) as well as problems.")
# The installed distribution's version: pyproject.toml's, read by importlib.metadata.
@click.version_option(
    package_name="verdict-digest", prog_name="digest", message="%(prog)s %(version)s"
)
def main(verbose: bool) -> None:
    """verdict-digest: the weekly AI tool verdicts newsletter worker."""
    # Readable lines on a terminal, JSON lines elsewhere (docs/observability.md).
    configure_logging(verbose=verbose, console=errors)
