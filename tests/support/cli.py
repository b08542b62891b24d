"""The ``digest`` command run in process (click's runner) on a test's store,
and what the list-management tests read back."""

from __future__ import annotations

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.cli import main
from worker.store.models import Subscriber, Suppression


class CliRunnerCall:
    """`digest …` in process, on the test's store."""

    def __init__(self, database_url: str) -> None:
        self.env = {
            "DATABASE_URL": database_url,
            "MAIL_URL": "memory://",
            "SITE_URL": "https://verdicts.example",
            "SECRET_KEY": "cli-test-secret",
        }

    def __call__(self, *args: str, input: str | None = None) -> Result:
        """``digest *args``, with ``input`` on its standard input (none: empty)."""
        return CliRunner().invoke(
            main, list(args), input=input, env=self.env, catch_exceptions=False
        )


def people(sessions: sessionmaker[Session]) -> dict[str, Subscriber]:
    with sessions() as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


def suppressions(sessions: sessionmaker[Session]) -> dict[str, Suppression]:
    with sessions() as session:
        return {s.email: s for s in session.scalars(select(Suppression))}


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]
