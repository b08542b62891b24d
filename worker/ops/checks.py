"""``digest check``: the environment checked before it is trusted with a send.

Each finding is one line naming its variable: ``ok`` for what passed,
``warning`` for what works but deserves a look, ``error`` for what will
fail or must not go to production. Every check runs whatever the others
found, so one run lists every problem.

Production means a ``SITE_URL`` that is not this machine (``localhost``,
``127.0.0.1``, ``::1``): there the links in every email must be https and
signed with a real ``SECRET_KEY``, and the footer must carry the sender's
real postal address.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from worker.compose.dkim import DKIMKeyError, read_key
from worker.config import DEV_SECRET_KEY, Settings, is_local_site, load_settings, redact_url
from worker.errors import ConfigError, InputError
from worker.ingest.feeds import configured_feeds
from worker.logs import url_secrets
from worker.ops.health import MAIL_TIMEOUT, probe_mail, store_health
from worker.schedule.due import upcoming
from worker.store import make_engine, parse_database_url

#: Fewer characters than this in a production SECRET_KEY is an error.
SECRET_KEY_LENGTH = 32
#: Fewer characters than this in a password or token is an error in
#: production (a warning elsewhere): the log filter does not search for values
#: under worker.logs.SHORTEST_SECRET characters, and a short one is guessable.
PASSWORD_LENGTH = 8
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>.]+(\.[^@\s<>.]+)+")
# What the schedule line reads; it is left out when one of them was rejected.
SCHEDULE_VARIABLES = frozenset(
    {"DIGEST_TIMEZONE", "DIGEST_BUILD_AT", "DIGEST_SEND_AT", "INGEST_EVERY", "RETRY_SWEEP_EVERY"}
)


class Level(enum.StrEnum):
    """How a finding counts: ``error`` makes ``digest check`` fail."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One line of ``digest check``: its level, the variable it names, and what was found."""

    level: Level
    subject: str  # the variable (or part) it is about
    message: str

    def line(self) -> str:
        """The finding as ``digest check`` prints it."""
        return f"{self.level.value:<7} {self.subject}: {self.message}"


def check_environment(
    environ: Mapping[str, str], now: dt.datetime, mail_timeout: float = MAIL_TIMEOUT
) -> list[Finding]:
    """Every check of ``environ``, in order: settings, database, mail,
    production settings, postal address, feeds, sender, time zone, schedule,
    DKIM and VERP."""
    settings, findings = _load(environ)
    if settings is None:
        return findings
    rejected = {f.subject for f in findings}
    production = not is_local_site(settings.site_url)
    findings += _database(settings.database_url)
    findings.append(_mail(settings.mail_url, production, mail_timeout))
    findings += _site(settings, production)
    findings.append(_postal_address(settings, production))
    findings.append(_feeds(settings))
    findings += _addresses(settings)
    if "DIGEST_TIMEZONE" not in rejected:
        findings.append(Finding(Level.OK, "DIGEST_TIMEZONE", settings.digest_timezone))
    if not rejected & SCHEDULE_VARIABLES:
        findings.append(_schedule(settings, now))
    findings += _templates(settings.templates_dir)
    findings += _signing(settings)
    findings += _short_secrets(settings, production)
    return findings


def _load(environ: Mapping[str, str]) -> tuple[Settings | None, list[Finding]]:
    """The settings, each malformed variable reported (the finding's
    subject is its name) and left at its default so that the other checks
    still run; None when a problem names no variable to leave out."""
    env = dict(environ)
    findings: list[Finding] = []
    while True:
        try:
            return load_settings(env), findings
        except ConfigError as error:
            # Every ConfigError of load_settings starts with its variable.
            name, _, message = str(error).partition(": ")
            findings.append(Finding(Level.ERROR, name, message))
            if name not in env:
                return None, findings
            del env[name]


def _database(url: str) -> list[Finding]:
    shown = redact_url(url)
    try:
        parsed = parse_database_url(url)
    except ConfigError as error:
        return [Finding(Level.ERROR, "DATABASE_URL", str(error).partition(": ")[2])]
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not file.startswith("file:") and not Path(file).exists():
        # Connecting would create an empty file, and then report it empty.
        return [
            Finding(
                Level.ERROR, "DATABASE_URL", f"no SQLite file at {file}; run: digest db upgrade"
            )
        ]
    try:
        # make_engine's connect timeout, unless the URL gives one.
        engine = make_engine(url)
    except ConfigError as error:  # a bad query option, or a driver not installed
        return [Finding(Level.ERROR, "DATABASE_URL", str(error).partition(": ")[2])]
    try:
        health = store_health(engine)
    finally:
        engine.dispose()
    if not health.reachable:
        return [Finding(Level.ERROR, "DATABASE_URL", f"{shown} is unreachable: {health.error}")]
    if health.problem:
        return [Finding(Level.ERROR, "DATABASE_URL", f"{shown}: {health.problem}")]
    return [
        Finding(
            Level.OK,
            "DATABASE_URL",
            f"{shown} answers, schema at the latest revision ({health.revision})",
        )
    ]


def _mail(url: str, production: bool, timeout: float) -> Finding:
    health = probe_mail(url, timeout)
    if health.ok is None:
        # console://, memory://, or a plugin without a probe: nothing
        # reaches a subscriber through the first two.
        level = Level.WARNING if production else Level.OK
    else:
        level = Level.OK if health.ok else Level.ERROR
    return Finding(level, "MAIL_URL", f"{health.backend}: {health.detail}")


def _site(settings: Settings, production: bool) -> list[Finding]:
    site = urlsplit(settings.site_url)
    if site.scheme not in ("http", "https") or not site.hostname:
        return [Finding(Level.ERROR, "SITE_URL", f"not an http(s) URL: {settings.site_url!r}")]
    if not production:
        return [
            Finding(
                Level.OK,
                "SITE_URL",
                f"{settings.site_url} is this machine: SITE_URL and SECRET_KEY are checked "
                "for production only when it names another host",
            )
        ]
    findings = []
    if site.scheme == "https":
        findings.append(Finding(Level.OK, "SITE_URL", settings.site_url))
    else:
        findings.append(
            Finding(
                Level.ERROR,
                "SITE_URL",
                f"{settings.site_url} is not https: inbox providers ignore a one-click "
                "unsubscribe that is not https, and the links would travel in clear",
            )
        )
    key = settings.secret_key
    if key == DEV_SECRET_KEY:
        findings.append(
            Finding(
                Level.ERROR,
                "SECRET_KEY",
                "not set (the development key, which anyone can read): set a long random value",
            )
        )
    elif len(key) < SECRET_KEY_LENGTH:
        findings.append(
            Finding(
                Level.ERROR,
                "SECRET_KEY",
                f"{len(key)} characters; use at least {SECRET_KEY_LENGTH} random ones",
            )
        )
    else:
        findings.append(Finding(Level.OK, "SECRET_KEY", f"set ({len(key)} characters)"))
    if DEV_SECRET_KEY in settings.old_secret_keys:
        findings.append(
            Finding(
                Level.ERROR,
                "OLD_SECRET_KEYS",
                "holds the development key: links signed with it would still be accepted",
            )
        )
    return findings


def _short_secrets(settings: Settings, production: bool) -> list[Finding]:
    """Passwords and tokens too short to be masked in logs or to resist a guess."""
    level = Level.ERROR if production else Level.WARNING
    advice = f"use at least {PASSWORD_LENGTH} (shorter ones are not masked in logs)"
    findings = []
    for name, url in (
        ("DATABASE_URL", settings.database_url),
        ("MAIL_URL", settings.mail_url),
        ("BOUNCE_IMAP_URL", settings.bounce_imap_url),
    ):
        for password in url_secrets(url):
            length = len(unquote(password))
            if length < PASSWORD_LENGTH:
                findings.append(
                    Finding(level, name, f"its password has {length} characters; {advice}")
                )
    for name, value in (
        ("POSTMARK_WEBHOOK_PASSWORD", settings.postmark_webhook_password),
        ("METRICS_TOKEN", settings.metrics_token),
    ):
        if value and len(value) < PASSWORD_LENGTH:
            findings.append(Finding(level, name, f"{len(value)} characters; {advice}"))
    return findings


def _postal_address(settings: Settings, production: bool) -> Finding:
    if settings.postal_address.strip() == Settings().postal_address:
        return Finding(
            Level.ERROR if production else Level.WARNING,
            "POSTAL_ADDRESS",
            "the sample address: every email must carry the sender's real postal "
            "address (CAN-SPAM)",
        )
    return Finding(Level.OK, "POSTAL_ADDRESS", settings.postal_address)


def _feeds(settings: Settings) -> Finding:
    path = settings.feeds_file
    try:
        feeds = configured_feeds(settings)
    except ConfigError:  # a file FEEDS_FILE names is missing
        return Finding(
            Level.ERROR, "FEEDS_FILE", f"{path}: cannot read the feeds file: it does not exist"
        )
    except InputError as error:
        return Finding(Level.ERROR, "FEEDS_FILE", f"{path}: {'; '.join(error.problems)}")
    if not feeds and not path.exists():
        # The clock and `digest ingest` accept this: feeds are optional.
        return Finding(
            Level.WARNING, "FEEDS_FILE", f"no feeds file ({path}): content only by digest import"
        )
    if not feeds:
        return Finding(Level.WARNING, "FEEDS_FILE", f"{path} lists no feed: ingest fetches nothing")
    return Finding(Level.OK, "FEEDS_FILE", f"{path}: {len(feeds)} feed{'s' * (len(feeds) != 1)}")


def _addresses(settings: Settings) -> list[Finding]:
    findings = []
    given = [("MAIL_FROM", settings.mail_from), ("BOUNCE_ADDRESS", settings.bounce_address)]
    for name, value in given:
        if not value:  # BOUNCE_ADDRESS is optional
            continue
        address = parseaddr(value)[1]
        if _ADDRESS.fullmatch(address) and "\n" not in value and "\r" not in value:
            findings.append(Finding(Level.OK, name, value))
        else:
            findings.append(Finding(Level.ERROR, name, f"{value!r} holds no valid address"))
    return findings


def _schedule(settings: Settings, now: dt.datetime) -> Finding:
    zone = settings.timezone
    runs = {run.job: run.at.astimezone(zone) for run in upcoming(settings, now)}
    shown = ", ".join(
        f"{job} {runs[job]:%a %Y-%m-%d %H:%M}" for job in ("build", "send") if job in runs
    )
    return Finding(Level.OK, "schedule", f"next {shown} ({settings.digest_timezone})")


def _templates(directory: Path) -> list[Finding]:
    if not (directory / "email").is_dir():
        return [Finding(Level.ERROR, "TEMPLATES_DIR", f"{directory} has no email/ templates")]
    return []


def _signing(settings: Settings) -> list[Finding]:
    findings = []
    keys = {
        "DKIM_PRIVATE_KEY_FILE": settings.dkim_key_file,
        "DKIM_ED25519_KEY_FILE": settings.dkim_ed25519_key_file,
    }
    for variable, path in keys.items():
        if path is not None:
            findings.append(_dkim_key(variable, path, alone=settings.dkim_key_file is None))
    if settings.verp and not settings.bounce_address:
        findings.append(
            Finding(Level.WARNING, "VERP", "on, but does nothing without BOUNCE_ADDRESS")
        )
    return findings


def _dkim_key(variable: str, path: Path, *, alone: bool) -> Finding:
    # Every message is signed as it is composed: a key that cannot be read
    # stops the sender, so this is an error, not a warning.
    try:
        key = read_key(variable, path)
    except DKIMKeyError as error:
        return Finding(Level.ERROR, variable, error.problem)
    if isinstance(key, rsa.RSAPrivateKey):
        return Finding(Level.OK, variable, f"{path} holds a {key.key_size}-bit RSA key")
    if alone:
        # RFC 8463 §5: many receivers cannot verify Ed25519 yet.
        return Finding(
            Level.WARNING,
            variable,
            f"{path} holds an Ed25519 key, the only one: receivers that verify only "
            "RSA see no signature; set DKIM_PRIVATE_KEY_FILE too",
        )
    return Finding(Level.OK, variable, f"{path} holds an Ed25519 key")
