"""The worker's exception tree.

::

    DigestError                 anything the worker reports to a person
    ├── ConfigError             a bad environment variable or option
    ├── InputError              bad input, with the place it came from
    │   ├── ImportFileError     a content file (YAML/JSON) with one or more bad records
    │   └── CSVImportError      subscriber CSV rows that were rejected
    ├── FeedError               one feed could not be fetched or parsed
    ├── RenderError             a template or MJML failed to render
    └── MailError               a mail backend could not be configured or reached

Each error's ``str`` is the one-line message a person sees; the CLI prints it
without a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# C0 and C1 controls: a driver's message may quote untrusted text (a feed's).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LONGEST = 300


class DigestError(Exception):
    """Base of every error the worker reports to a person."""


class ConfigError(DigestError):
    """A setting is missing or malformed."""


class InputError(DigestError):
    """Input was rejected; ``problems`` holds one message per bad place."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}:\n  " + "\n  ".join(self.problems))


class ImportFileError(InputError):
    """A content file had bad records; nothing from it was imported."""


class CSVImportError(InputError):
    """Rows of a subscriber CSV were rejected (the good rows were imported)."""


class FeedError(DigestError):
    """A feed failed; the message names the feed URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class RenderError(DigestError):
    """Rendering a digest failed."""


class MailError(DigestError):
    """A mail backend is misconfigured or unreachable."""


def driver_words(error: BaseException) -> str:
    """One line about ``error``, safe to log or show: the worker's own
    message for a DigestError; for a database error the driver's first line
    (SQLAlchemy's own text carries the statement and its parameters, which
    may be subscribers' addresses), after the error's type name."""
    if isinstance(error, DigestError):
        lines = str(error).strip().splitlines()
        return lines[0] if lines else type(error).__name__
    orig = getattr(error, "orig", None)  # a DBAPIError's driver exception
    cause = orig if isinstance(orig, BaseException) else error
    lines = str(cause).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"
