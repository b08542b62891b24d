"""The one exception tree: every exception class in ``worker`` and
``subscribers`` derives from :class:`DigestError`.

::

    DigestError                                      anything reported to a person
    ├── ConfigError                                  a bad environment variable or option
    │   └── worker.compose.dkim.DKIMKeyError         a DKIM key file unreadable or of the wrong kind
    ├── InputError                                   a file a person gave, a line per problem
    │   ├── ImportFileError                          a content file with bad records
    │   ├── worker.domain.editorial.EditorialFileError  an edition file or welcome copy refused
    │   └── worker.domain.editorial.UnknownItemsError   an edition file names items the week lacks
    ├── FeedError                                    a feed could not be fetched or parsed
    │   └── worker.ingest.fetch.FetchError           ... with the HTTP status it got
    ├── RenderError                                  a template or MJML failed to render
    ├── MailError                                    a mail backend is misconfigured or down
    │   ├── worker.deliver.notices.NoticeNotSent     a notice was not accepted
    │   └── worker.mail.smtppool._Failed             an SMTP connection cannot go on
    ├── worker.compose.signing.SigningProcessError   a DKIM signing process failed
    ├── worker.domain.documents.DocumentError        JSON or YAML refused (aliases, depth, NaN)
    ├── worker.domain.tokens.BadToken                a forged, altered or expired token
    ├── worker.ingest.launches.Skip                  a feed entry that cannot be stored
    ├── worker.ingest.outbound.AddressRefused        a host resolves to an address not allowed
    ├── worker.editor.preview.NothingToPreview       a segment gets nothing that week
    ├── worker.editor.lint.spamcheck.SpamCheckError  SpamAssassin is missing or failed
    ├── worker.editor.refs.ContentError              content named is unknown, or cannot go
    ├── worker.deliver.editions.EditionStateError    the edition's state forbids it
    ├── worker.ops.report.NothingToReport            no edition went out to report on
    ├── subscribers.roster.InvalidField              a subscriber's field is invalid
    ├── subscribers.admin.ListError                  a list change that cannot be made
    ├── subscribers.intake.dsn.MessageError          a mailed report that cannot be read
    ├── subscribers.intake.mailboxes.MailboxError    a mailbox cannot be opened or read
    ├── subscribers.intake.records.PayloadError      a webhook payload of the wrong shape
    ├── subscribers.intake.sns.Rejected              an SNS message refused (HTTP status)
    ├── subscribers.web.pages.common.InvalidLink     a subscriber's link is not valid
    └── subscribers.web.busy.StoreBusy               the store stayed locked for the whole wait

An error that belongs to one module's job is defined in that module (others
raising it import it from there), on the class here that fits it;
``tests/test_errors.py`` compares this picture with the code. Each error's
``str`` is the one line a person sees; its ``hint``, when it has one, says
what to do about it; the CLI prints it on the line after the message. A
class may set a ``hint`` for all its errors; a raise site may give its own
(``raise ConfigError("...", hint="...")``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# C0 and C1 controls: a driver's message may quote untrusted text (a feed's).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LONGEST = 300


class DigestError(Exception):
    """Base of every error the worker and the subscriber app raise."""

    # What to do about it; "" when the message says it all.
    hint: str = ""

    def __init__(self, *args: object, hint: str = "") -> None:
        super().__init__(*args)
        if hint:
            self.hint = hint


class ConfigError(DigestError):
    """A setting is missing or malformed."""


class InputError(DigestError):
    """Input was rejected; ``problems`` holds one message per bad place."""

    def __init__(self, source: str, problems: Sequence[str], *, hint: str = "") -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        message = f"{source}: {count} {noun}:\n  " + "\n  ".join(self.problems)
        super().__init__(message, hint=hint)


class ImportFileError(InputError):
    """A content file had bad records; nothing from it was imported."""


class FeedError(DigestError):
    """A feed failed; the message names the feed URL."""

    def __init__(self, url: str, reason: str, *, hint: str = "") -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}", hint=hint)


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
