"""Logging: readable lines on a terminal, JSON lines elsewhere, never a secret.

Every process (the ``digest`` commands, the clock, workers, the web app)
logs through the root handler that :func:`configure_logging` installs. On a
terminal each record is a readable line (rich); otherwise (a platform's log,
cron, systemd's journal) it is one JSON object per line::

    {"time": "2026-11-24T09:00:01.234Z", "level": "INFO", "logger": "worker.editions",
     "event": "edition started", "edition": "2026-W48", "queued": 1000}

``LOG_FORMAT`` (``json`` or ``text``) overrides the choice, ``LOG_LEVEL``
(``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``) sets the level.

The convention for a log call: the message is a short, constant phrase
saying what happened (it becomes ``event``, and stays the same from one run
to the next so that it can be searched and counted); the figures and names
go in ``extra``, each a JSON value::

    log.info("batch sent", extra={"edition": "2026-W48", "sent": 100, "failed": 0})
    log.warning("feed failed", extra={"feed": url, "error": reason})

Field names in use (reuse them rather than inventing synonyms):
``edition`` (the ISO week, ``2026-W48``), ``edition_id`` (when only the id is
at hand), ``feed`` (a feed URL), ``worker`` (a worker's name), ``job`` (a
clock job: ingest, build, send, retries, prune), ``at`` (an ISO 8601 time),
counts named for their state (``queued``, ``sent``, ``deferred``,
``failed``, ``suppressed``, ``new``, ``duplicates``, ``skipped``,
``segments``, ``done``, ``total``, ``rows``), ``result`` (a feed's: ok,
not-modified, gone, …), ``signal``, ``rate`` (messages a second),
``seconds``, ``attempt``, ``delivery_id``, ``by`` (who approved or held),
``reason`` (why something waits), ``detail`` (a warning's text),
``endpoint`` (a webhook endpoint's URL), ``webhook_id`` and ``type`` (a
webhook's id and event type), and ``error`` (one line saying what went wrong).
The names of ``logging.LogRecord``'s own attributes (``name``, ``module``,
``process``, ``message``, …) cannot be used, nor should ``time``,
``level``, ``logger`` or ``event``. URLs are logged through
:func:`worker.config.redact_url`.

Never log a secret. As a last line of defence the handler carries
:class:`RedactSecrets`, which replaces the values of secret settings
(``SECRET_KEY``, ``OLD_SECRET_KEYS``, ``POSTMARK_WEBHOOK_PASSWORD``, every
variable whose name ends in ``_KEY``, ``_KEYS``, ``_PASSWORD``, ``_TOKEN`` or
``_SECRET``, and the password of every URL in the environment), the
password of any URL and the value of any credential-like URL parameter
(``?token=…``: :func:`redact_parameters`) by ``***`` in messages,
arguments, extras and exception text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any
from urllib.parse import unquote

from rich.console import Console
from rich.logging import RichHandler

from worker.errors import ConfigError

MASK = "***"
# Shorter values are not searched for: they would blank out parts of every
# line (a one-letter password), and no real secret is that short.
SHORTEST_SECRET = 4
SECRET_NAMES = ("SECRET_KEY", "OLD_SECRET_KEYS", "POSTMARK_WEBHOOK_PASSWORD")
SECRET_SUFFIXES = ("_KEY", "_KEYS", "_PASSWORD", "_TOKEN", "_SECRET")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Libraries whose INFO lines say how they work, not what happened (Alembic's
# "Context impl SQLiteImpl." on every look at the schema): their warnings
# only, unless ``digest -v`` or ``LOG_LEVEL=DEBUG``.
CHATTY_LIBRARIES = ("alembic",)

# scheme://user:password@ — the user part has no "/", so a path holding an
# "@" (https://medium.com/@someone/feed) is not taken for credentials. The
# password runs to the URL's last "@", as in worker.config.redact_url: it
# may hold a raw "/", "?", "#" or "@".
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)\S*@")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

# URL parameters (query or fragment) that carry a credential, by name in
# lowercase with "-" read as "_": ?token=…, &api_key=…, #access_token=…,
# X-Amz-Signature=… A name ending in one of the suffixes counts too.
SECRET_PARAMETERS = frozenset(
    {
        "token",
        "key",
        "api_key",
        "apikey",
        "access_token",
        "auth",
        "sig",
        "signature",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "code",
        "jwt",
        "session",
        "sessionid",
    }
)
SECRET_PARAMETER_SUFFIXES = ("_token", "_key", "_secret", "_password", "_signature", "_credential")
_PARAMETER = re.compile(r"(?P<head>[?&;#](?P<name>[^\s=&;#?/]+)=)(?P<value>[^\s&;#'\"<>]+)")

# What every LogRecord has: anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The secret values in ``environ``, longest first (so that a secret
    holding another is masked whole), each also in its percent-decoded form."""
    found: set[str] = set()
    for name, value in environ.items():
        if name in SECRET_NAMES or name.endswith(SECRET_SUFFIXES):
            found.add(value)
            if name.endswith("_KEYS"):
                found.update(part.strip() for part in value.split(","))
            if value.startswith("whsec_"):  # WEBHOOK_SECRET: its key, also without the prefix
                found.add(value.removeprefix("whsec_"))
        found.update(url_secrets(value))
    found |= {unquote(value) for value in found}
    return sorted((v for v in found if len(v) >= SHORTEST_SECRET), key=len, reverse=True)


def url_secrets(value: str) -> list[str]:
    """The password of a URL (``smtp://user:PASSWORD@host``), or its token
    when it has only one credential (``postmark://TOKEN@host``)."""
    scheme, slashes, rest = value.strip().partition("://")
    if not slashes or not _SCHEME.fullmatch(scheme) or "@" not in rest:
        return []
    # The authority ends at its last "@": a password may hold "/" or "?".
    credentials = rest.split()[0].rpartition("@")[0]
    user, colon, password = credentials.partition(":")
    if "/" in user:  # a path holding an "@", not credentials
        return []
    return [password] if colon else [user]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets``, any URL's password and any
    credential-like URL parameter's value replaced by ``***``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return redact_parameters(_URL_PASSWORD.sub(rf"\g<head>{MASK}@", text))


def redact_parameters(text: str) -> str:
    """``text`` with the value of every URL parameter named like a
    credential (``?token=abc&page=2`` → ``?token=***&page=2``) replaced by
    ``***``; the other parameters stay readable."""
    return _PARAMETER.sub(_masked_parameter, text)


def _masked_parameter(match: re.Match[str]) -> str:
    name = unquote(match["name"]).lower().replace("-", "_")
    if name in SECRET_PARAMETERS or name.endswith(SECRET_PARAMETER_SUFFIXES):
        return f"{match['head']}{MASK}"
    return match[0]


class RedactSecrets(logging.Filter):
    """Masks secrets in a record before any handler formats it: the message
    with its arguments, every extra, the exception and stack text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._message(record)
        record.args = None
        for key in extra_fields(record):
            setattr(record, key, self._value(getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True

    def _message(self, record: logging.LogRecord) -> str:
        """The message with its arguments; a call whose arguments do not fit
        its format (``log.warning("%d", "x")``) still logs both, and never
        raises in the caller (a filter runs outside logging's own handling
        of such errors)."""
        try:
            return self._clean(record.getMessage())
        except Exception:
            try:
                return self._clean(f"{record.msg} {record.args!r}")
            except Exception:
                return f"unprintable log message from {record.pathname}:{record.lineno}"

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def _value(self, value: object) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self._clean(value)
        if isinstance(value, Mapping):
            return {str(k): self._value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(v) for v in value]
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        return self._clean(str(value))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the log call passed with ``extra=``, in the order given."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger,
    event (the message), the extras, and the exception if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(_inert(entry), ensure_ascii=False, default=str)


# Terminal escape sequences (colours, cursor moves, titles): CSI, OSC, and
# the two-character ones, in their 7-bit forms and C1's CSI.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]"
)
# Control characters but the newline and tab (which JSON escapes), and the
# line and paragraph separators, which some readers take for line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _inert(value: object) -> object:
    """``value`` with its strings fit for a JSON log line: no terminal escape
    sequence (Werkzeug colours its request lines, terminal or not), and any
    other control character written out (``\\x07``), never sent raw to
    whoever reads the log on a terminal."""
    if isinstance(value, str):
        return _CONTROL.sub(_written_out, _ANSI.sub("", value))
    if isinstance(value, Mapping):
        return {key: _inert(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_inert(item) for item in value]
    return value


def _written_out(found: re.Match[str]) -> str:
    code = ord(found[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class TextFormatter(logging.Formatter):
    """The message followed by the extras as ``key=value`` (a value with
    spaces or quotes in JSON quotes)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        pairs = [f"{key}={_shown(value)}" for key, value in extra_fields(record).items()]
        return " ".join([line, *pairs])


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if text and not re.search(r"[\s\"'=]", text):
        return text
    return json.dumps(text, ensure_ascii=False)


def log_format(environ: Mapping[str, str], terminal: bool) -> str:
    """``json`` or ``text``: ``LOG_FORMAT`` if set, else text on a terminal."""
    chosen = environ.get("LOG_FORMAT", "").strip().lower()
    if chosen and chosen not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT: must be json or text, not {environ['LOG_FORMAT']!r}")
    return chosen or ("text" if terminal else "json")


def log_level(environ: Mapping[str, str], terminal: bool, verbose: bool = False) -> int:
    """``LOG_LEVEL`` if set; otherwise INFO off a terminal (the log is the
    record there) and WARNING on one (the command's output says what
    happened). ``verbose`` (``digest -v``) means at least INFO."""
    chosen = environ.get("LOG_LEVEL", "").strip().upper()
    if chosen and chosen not in LEVELS:
        raise ConfigError(
            f"LOG_LEVEL: must be one of {', '.join(LEVELS)}, not {environ['LOG_LEVEL']!r}"
        )
    if chosen:
        level = logging.getLevelNamesMapping()[chosen]
    else:
        level = logging.WARNING if terminal else logging.INFO
    return min(level, logging.INFO) if verbose else level


def make_handler(
    environ: Mapping[str, str],
    *,
    stream: IO[str] | None = None,
    console: Console | None = None,
) -> logging.Handler:
    """The handler for ``stream`` (default standard error): rich or plain
    text, or JSON lines, with :class:`RedactSecrets` on it."""
    stream = stream or sys.stderr
    terminal = stream.isatty()
    handler: logging.Handler
    if log_format(environ, terminal) == "json":
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JSONFormatter())
    elif terminal:
        handler = RichHandler(console=console or Console(file=stream), show_path=False)
        handler.setFormatter(TextFormatter("%(message)s"))
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecrets(secret_values(environ)))
    return handler


def configure_logging(
    *,
    verbose: bool = False,
    environ: Mapping[str, str] | None = None,
    console: Console | None = None,
) -> None:
    """Install the root handler for this process, unless logging was set
    up already (by an application embedding this one, or a test harness),
    which is then left as it is, as :func:`logging.basicConfig` does.

    Raises ConfigError for a bad ``LOG_FORMAT`` or ``LOG_LEVEL``.
    """
    env = os.environ if environ is None else environ
    terminal = sys.stderr.isatty()
    level = log_level(env, terminal, verbose)
    handler = make_handler(env, console=console)
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(handler)
    root.setLevel(level)
    quiet = not verbose and level > logging.DEBUG
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)
