"""Settings read from the environment (12-factor), with working defaults for
the embedded setup: a SQLite file and a file outbox in the current directory.

Every setting is declared once, as a field of :class:`Settings` made by
:func:`setting`: its variable, default, one-line meaning, whether it is a
secret, and a ``check`` for values its type allows but the worker does not
(an unknown time zone); its type is the field's annotation, which picks how
the variable's text is read (:data:`KINDS`). :data:`SETTINGS` holds the
declarations, with the two that :mod:`worker.logs` reads itself;
:func:`load_settings` follows them, and a test checks
``docs/configuration.md``'s table against them.

Secrets (``SECRET_KEY``, passwords inside ``DATABASE_URL`` and ``MAIL_URL``)
are kept out of ``repr`` so that a logged or printed ``Settings`` never shows
them; use :func:`redact_url` to show a URL to a person.
"""

# Over 500 lines for its declarations (a third of it), kept in one place.

from __future__ import annotations

import os
import re
import typing
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from worker.domain.addresses import allow_list
from worker.domain.cron import cron_trigger
from worker.domain.origins import origin
from worker.domain.urls import compare_url_problem
from worker.domain.webhooks import endpoint_problem, secret_key
from worker.errors import ConfigError
from worker.logs import redact_parameters

# The repository root: templates and sample data live beside the packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-not-secret"
SAMPLE_POSTAL_ADDRESS = "Verdict Digest, 548 Market St #0000, San Francisco, CA 94104, USA"

T = TypeVar("T")

# What is wrong with a setting's value, given all the settings ("" if nothing).
Check = Callable[[Any, "Settings"], str]


@dataclass(frozen=True)
class Kind:
    """How a variable's text becomes a setting's value: ``read`` raises
    ValueError for text it refuses, which the error calls ``refusal``."""

    name: str  # as a hint says it: "a whole number"
    read: Callable[[str], object]
    refusal: str = ""


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_FLAG_WORDS = "1/true/yes/on or 0/false/no/off"


def _flag(text: str) -> bool:
    """``text`` as yes or no; anything else is refused, since a typo read as
    "no" could, say, send an edition nobody approved."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(text)


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


TEXT = Kind("text", str)
_PATH = Kind("a file or directory path", Path)

# The reading of each type a setting may have, by its annotation.
KINDS: dict[object, Kind] = {
    str: TEXT,
    bool: Kind(_FLAG_WORDS, _flag, f"not one of {_FLAG_WORDS}"),
    int: Kind("a whole number", int, "not a number"),
    float: Kind("a number", float, "not a number"),
    Path: _PATH,
    Path | None: _PATH,
    tuple[str, ...]: Kind("a comma-separated list", _comma_list),
}


def _known_zone(value: str, _settings: Settings) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return ""


def _cron_time(value: str, settings: Settings) -> str:
    # Declared after DIGEST_TIMEZONE, which is checked first.
    try:
        cron_trigger(value, settings.timezone)
    except ValueError as error:
        return f"{value!r}: {error}"
    return ""


def _compare_url(value: str, _settings: Settings) -> str:
    return compare_url_problem(value) if value else ""


def _more_than_zero(value: float, _settings: Settings) -> str:
    return "" if value > 0 else "must be more than 0"


def _one_or_more(value: int, _settings: Settings) -> str:
    return "" if value >= 1 else "must be 1 or more"


def _allow_list(value: tuple[str, ...], _settings: Settings) -> str:
    try:
        allow_list(value)
    except ValueError as error:
        return str(error)
    return ""


def _origins(value: tuple[str, ...], _settings: Settings) -> str:
    for text in value:
        try:
            origin(text)
        except ValueError as error:
            return str(error)
    return ""


def _https_url(value: str, _settings: Settings) -> str:
    if not value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        return f"not an https URL: {value!r}"
    return ""


def _webhook_urls(value: tuple[str, ...], _settings: Settings) -> str:
    for url in value:
        problem = endpoint_problem(url)
        if problem:
            return f"{redact_url(url)!r} {problem}"
    return ""


def _webhook_secret(value: str, settings: Settings) -> str:
    # Declared after WEBHOOK_URLS, which is checked first.
    if not value:
        return "needed with WEBHOOK_URLS" if settings.webhook_urls else ""
    try:
        secret_key(value)
    except ValueError as error:
        return f"the value {error}"  # never the value itself
    return ""


def _regular_expression(value: str, _settings: Settings) -> str:
    try:
        re.compile(value)
    except re.error as error:
        return f"not a regular expression: {error}"
    return ""


@dataclass(frozen=True)
class Setting:
    """One environment variable: the declaration that :func:`load_settings`,
    the hints of its errors and the documentation check follow."""

    variable: str
    kind: Kind
    default: object
    meaning: str
    secret: bool = False
    shown: str = ""
    check: Check | None = None
    # The Settings attribute it fills; None for a variable read elsewhere.
    attribute: str | None = None

    @property
    def documented_default(self) -> str:
        """The default as docs/configuration.md's table says it (without
        its backticks)."""
        if self.shown:
            return self.shown
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if self.default in (None, "", ()):
            return "none"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)

    @property
    def hint(self) -> str:
        """What an error about this setting adds to its message."""
        return (
            f"{self.meaning} ({self.kind.name}; unset: {self.documented_default}); "
            "see docs/configuration.md"
        )

    def read(self, text: str) -> object:
        """``text`` as this setting's value; a ConfigError naming the
        variable when its kind refuses it."""
        try:
            return self.kind.read(text)
        except ValueError:
            message = f"{self.variable}: {self.kind.refusal}: {text!r}"
            raise ConfigError(message, hint=self.hint) from None


def setting(
    variable: str,
    default: T,
    meaning: str,
    *,
    secret: bool = False,
    shown: str = "",
    check: Check | None = None,
) -> T:
    """A field of :class:`Settings` read from ``variable`` (its kind and
    attribute are filled in from the field: :data:`SETTINGS`)."""
    declared = Setting(variable, TEXT, default, meaning, secret, shown, check)
    return field(default=default, repr=not secret, metadata={"setting": declared})


@dataclass(frozen=True)
class Settings:
    """Everything the worker reads from its environment, one declaration a
    setting (docs/configuration.md says more about each)."""

    database_url: str = setting(
        "DATABASE_URL",
        "sqlite:///verdict-digest.sqlite3",
        "The store's SQLAlchemy URL",
        secret=True,
    )
    mail_url: str = setting("MAIL_URL", "file://outbox", "The mail backend, by scheme", secret=True)
    site_url: str = setting("SITE_URL", "http://localhost:5000", "Base of every link in an email")
    method_url: str = setting(
        "METHOD_URL",
        "",
        "The site's page on how the panel judges, linked under the verdict tables",
        shown="none (no link)",
        check=_https_url,
    )
    # A comparison's own url: in the content file wins over it (docs/data.md).
    compare_url: str = setting(
        "COMPARE_URL",
        "",
        "Where a comparison's title links, {slug} standing for its slug",
        shown="none (SITE_URL/compare/<slug>)",
        check=_compare_url,
    )
    # Content links through SITE_URL/r/… counted per edition and item, never
    # per reader (worker.domain.clicks).
    click_counts: bool = setting(
        "CLICK_COUNTS", True, "Count clicks on an edition's content links, per item"
    )
    secret_key: str = setting(
        "SECRET_KEY", DEV_SECRET_KEY, "Signs link tokens", secret=True, shown="a development key"
    )
    old_secret_keys: tuple[str, ...] = setting(
        "OLD_SECRET_KEYS", (), "Keys still accepted when verifying tokens", secret=True
    )
    mail_from: str = setting(
        "MAIL_FROM", "Weekly AI Tool Verdicts <digest@verdicts.example>", "The From header"
    )
    # Each edition gets its own bounce address (bounces+2026-W48@…); with
    # VERP each recipient too (bounces+2026-W48.1234.5f3a9c0e@…: 1234 the
    # subscriber id, then an HMAC so that a forged bounce cannot name anyone).
    bounce_address: str = setting(
        "BOUNCE_ADDRESS", "", "Envelope sender for bounces", shown="none (MAIL_FROM's address)"
    )
    verp: bool = setting("VERP", False, "Tag each recipient's envelope sender too")
    dkim_key_file: Path | None = setting(
        "DKIM_PRIVATE_KEY_FILE", None, "PEM RSA key that signs messages", shown="none (no DKIM)"
    )
    dkim_selector: str = setting("DKIM_SELECTOR", "digest", "The RSA key's DKIM selector")
    dkim_ed25519_key_file: Path | None = setting(
        "DKIM_ED25519_KEY_FILE",
        None,
        "PEM Ed25519 key that signs messages too",
        shown="none (no Ed25519 signature)",
    )
    dkim_ed25519_selector: str = setting(
        "DKIM_ED25519_SELECTOR", "digest-ed25519", "The Ed25519 key's DKIM selector"
    )
    dkim_domain: str = setting(
        "DKIM_DOMAIN", "", "The DKIM signing domain (d=)", shown="MAIL_FROM's domain"
    )
    postal_address: str = setting(
        "POSTAL_ADDRESS",
        SAMPLE_POSTAL_ADDRESS,
        "The sender's postal address, in every footer",
        shown="a sample address",
    )
    digest_timezone: str = setting(
        "DIGEST_TIMEZONE", "UTC", "IANA zone of the weeks and the clock", check=_known_zone
    )
    # The clock and cron mode (docs/decisions.md, "The clock").
    digest_send_at: str = setting(
        "DIGEST_SEND_AT", "tue 09:00", "When the clock starts the send", check=_cron_time
    )
    digest_build_at: str = setting(
        "DIGEST_BUILD_AT", "mon 18:00", "When the clock builds the edition", check=_cron_time
    )
    digest_require_approval: bool = setting(
        "DIGEST_REQUIRE_APPROVAL", False, "The clock starts only an approved edition"
    )
    # Each reader's morning (docs/operations.md, "Each reader's morning").
    digest_send_local: bool = setting(
        "DIGEST_SEND_LOCAL", False, "DIGEST_SEND_AT's time read in each reader's own zone"
    )
    # 40 typical launches are about 14 KB of HTML: with five comparisons that
    # is 80 KB, well within Gmail's clip (docs/decisions.md).
    digest_max_launches: int = setting(
        "DIGEST_MAX_LAUNCHES", 40, "Launches an edition lists per segment", check=_one_or_more
    )
    misfire_grace_hours: float = setting(
        "MISFIRE_GRACE_HOURS", 12.0, "Hours a missed run is still made up", check=_more_than_zero
    )
    ingest_every: int = setting(
        "INGEST_EVERY", 60, "Minutes between ingests", check=_more_than_zero
    )
    retry_sweep_every: int = setting(
        "RETRY_SWEEP_EVERY", 5, "Minutes between the clock's sweeps", check=_more_than_zero
    )
    fetch_log_days: int = setting(
        "FETCH_LOG_DAYS", 30, "Days the log of feed fetches is kept", check=_more_than_zero
    )
    feeds_file: Path = setting("FEEDS_FILE", Path("feeds.toml"), "The feeds list (TOML or YAML)")
    list_id: str = setting("LIST_ID", "weekly", "The list's id (List-Id header, edition key)")
    list_name: str = setting("LIST_NAME", "Weekly AI Tool Verdicts", "The list's name")
    # Constant per mail stream (never per recipient), as Gmail asks.
    feedback_id: str = setting(
        "FEEDBACK_ID", "weekly:digest:verdict-digest", "Feedback-ID header of the mail stream"
    )
    feed_timeout: float = setting("FEED_TIMEOUT", 10.0, "Seconds before a feed fetch gives up")
    feed_max_bytes: int = setting("FEED_MAX_BYTES", 5 * 1024 * 1024, "Largest feed body read")
    # Feeds come from public addresses only (docs/decisions.md, "Fetching feeds").
    feed_allow_private: tuple[str, ...] = setting(
        "FEED_ALLOW_PRIVATE",
        (),
        "Non-public hosts, addresses or networks feeds may be fetched from",
        shown="none (public addresses only)",
        check=_allow_list,
    )
    feed_max_entries: int = setting(
        "FEED_MAX_ENTRIES", 100, "Entries of one fetch stored (the newest)", check=_one_or_more
    )
    feed_concurrency: int = setting(
        "FEED_CONCURRENCY", 4, "Feeds fetched at once", check=_one_or_more
    )
    templates_dir: Path = setting(
        "TEMPLATES_DIR",
        PROJECT_ROOT / "templates",
        "Where email/ templates and web/ pages are read from",
        shown="the repository's templates/",
    )
    # Delivery: transient failures are retried with exponential backoff and jitter.
    batch_size: int = setting("DELIVERY_BATCH_SIZE", 100, "Deliveries a worker claims at once")
    lease_seconds: float = setting(
        "DELIVERY_LEASE_SECONDS", 300.0, "Seconds a claimed batch is a worker's"
    )
    max_attempts: int = setting(
        "DELIVERY_MAX_ATTEMPTS", 5, "Sends tried before a transient failure is a failure"
    )
    max_age_hours: float = setting(
        "DELIVERY_MAX_AGE_HOURS", 48.0, "Hours after an edition's start that it is retried"
    )
    retry_base_seconds: float = setting("RETRY_BASE_SECONDS", 60.0, "Backoff of a first retry")
    retry_cap_seconds: float = setting("RETRY_CAP_SECONDS", 3600.0, "Longest backoff of a retry")
    subscribe_limit_per_client: int = setting(
        "SUBSCRIBE_LIMIT_PER_CLIENT", 20, "Requests of the forms that mail, per client an hour"
    )
    subscribe_limit_per_address: int = setting(
        "SUBSCRIBE_LIMIT_PER_ADDRESS", 3, "Emails the forms send to one address a day"
    )
    # The subscribe API's CORS (docs/subscribers.md, "The subscribe API").
    allowed_origins: tuple[str, ...] = setting(
        "ALLOWED_ORIGINS",
        (),
        "Origins of the sites whose pages may call /api/subscribe",
        shown="none (no other site)",
        check=_origins,
    )
    trusted_proxies: int = setting(
        "TRUSTED_PROXIES", 0, "Reverse proxies whose X-Forwarded-For is trusted"
    )
    # A busy store (docs/subscribers.md, "When the store is busy").
    web_write_wait: float = setting(
        "WEB_WRITE_WAIT",
        10.0,
        "Seconds a web request retries a write while the store is busy",
        check=_more_than_zero,
    )
    unsubscribe_spool_dir: Path = setting(
        "UNSUBSCRIBE_SPOOL_DIR",
        Path("unsubscribe-spool"),
        "Where one-click unsubscribes wait while the store cannot take them",
    )
    # Bounce and complaint intake (docs/subscribers.md).
    soft_bounce_limit: int = setting(
        "SOFT_BOUNCE_LIMIT", 3, "Soft-bounced editions that suppress an address", check=_one_or_more
    )
    bounce_imap_url: str = setting(
        "BOUNCE_IMAP_URL", "", "The IMAP mailbox digest bounces fetch reads", secret=True
    )
    sns_cert_url_pattern: str = setting(
        "SNS_CERT_URL_PATTERN",
        r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/",
        "Where SNS signing certificates may come from",
        check=_regular_expression,
    )
    sns_topic_arns: tuple[str, ...] = setting(
        "SNS_TOPIC_ARNS", (), "SNS topics /webhooks/ses accepts", shown="none (webhook refused)"
    )
    sns_confirm_subscriptions: bool = setting(
        "SNS_CONFIRM_SUBSCRIPTIONS", False, "Let /webhooks/ses confirm its SNS subscription"
    )
    postmark_webhook_user: str = setting(
        "POSTMARK_WEBHOOK_USER", "", "The Postmark webhook's user", shown="none (webhook refused)"
    )
    postmark_webhook_password: str = setting(
        "POSTMARK_WEBHOOK_PASSWORD",
        "",
        "The Postmark webhook's password",
        secret=True,
        shown="none (webhook refused)",
    )
    metrics_token: str = setting(
        "METRICS_TOKEN",
        "",
        "Bearer token GET /metrics asks for",
        secret=True,
        shown="none (/metrics open)",
    )
    # Signed webhooks out (docs/operations.md, "Webhooks").
    webhook_urls: tuple[str, ...] = setting(
        "WEBHOOK_URLS",
        (),
        "Where events are POSTed as signed webhooks (https)",
        shown="none (no webhooks, no events recorded)",
        check=_webhook_urls,
    )
    webhook_secret: str = setting(
        "WEBHOOK_SECRET",
        "",
        "Signs webhooks: whsec_ and a base64 key (Standard Webhooks)",
        secret=True,
        check=_webhook_secret,
    )
    webhook_allow_private: tuple[str, ...] = setting(
        "WEBHOOK_ALLOW_PRIVATE",
        (),
        "Non-public hosts, addresses or networks webhooks may be POSTed to",
        shown="none (public addresses only)",
        check=_allow_list,
    )
    webhook_timeout: float = setting(
        "WEBHOOK_TIMEOUT", 10.0, "Seconds one webhook POST may take", check=_more_than_zero
    )

    @property
    def timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.digest_timezone)

    @property
    def webhook_key(self) -> bytes:
        """The HMAC key of ``WEBHOOK_SECRET`` (checked when the settings load)."""
        return secret_key(self.webhook_secret)

    @property
    def list_domain(self) -> str:
        """The domain used for List-Id, Message-ID and mailto links."""
        sender = self.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
        return sender.rsplit("@", 1)[-1] if "@" in sender else "localhost"

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"Settings({shown}, database_url={redact_url(self.database_url)!r}, ...)"


def _declarations() -> tuple[Setting, ...]:
    """The declarations of :class:`Settings`' fields, in their order."""
    types = typing.get_type_hints(Settings)
    return tuple(
        replace(f.metadata["setting"], kind=KINDS[types[f.name]], attribute=f.name)
        for f in fields(Settings)
    )


# Read by worker.logs straight from the environment: logging is set up
# before the settings load, and worker.logs sits below this module. Declared
# here so that the documentation check covers every variable.
READ_BY_LOGS = (
    Setting(
        "LOG_FORMAT",
        TEXT,
        "",
        "json (one object per line) or text (readable lines)",
        shown="text on a terminal, json otherwise",
    ),
    Setting(
        "LOG_LEVEL",
        TEXT,
        "",
        "DEBUG, INFO, WARNING, ERROR or CRITICAL",
        shown="WARNING on a terminal, INFO otherwise",
    ),
)

SETTINGS: tuple[Setting, ...] = (*_declarations(), *READ_BY_LOGS)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``); an
    empty variable counts as unset.

    Keyword ``overrides`` win over the environment; the CLI uses them for its
    options. They are checked as the environment's values are.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        declared.attribute: declared.read(env[declared.variable])
        for declared in SETTINGS
        if declared.attribute and env.get(declared.variable)
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "database_url" in values:
        values["database_url"] = normalise_database_url(str(values["database_url"]))
    settings = Settings(**values)  # type: ignore[arg-type]
    for declared in SETTINGS:
        if declared.check and declared.attribute:
            problem = declared.check(getattr(settings, declared.attribute), settings)
            if problem:
                raise ConfigError(f"{declared.variable}: {problem}", hint=declared.hint)
    return settings


def normalise_database_url(url: str) -> str:
    """Accept Heroku-style ``postgres://`` URLs and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """``url`` with any password (or token) and the value of any
    credential-like parameter (``?token=…``, ``&api_key=…``:
    :func:`worker.logs.redact_parameters`) replaced by ``***``, safe to
    print or log.

    The password is found by position, between ``//`` and the authority's
    last ``@``, rather than by a URL parser: a password with an unencoded
    ``/``, ``?`` or ``#`` (SES SMTP passwords have them) would fool the
    parser into finding none. A user part holding a ``/`` is a path with an
    ``@`` in it (``https://medium.com/@someone/feed``), not credentials.
    """
    scheme, slashes, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    if not slashes or "@" not in rest or "/" in user:
        return redact_parameters(url)
    shown = f"{scheme}://{user}:***@{host}" if colon else f"{scheme}://***@{host}"
    return redact_parameters(shown)


# The hosts that are this machine: a SITE_URL there is a developer's.
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_local_site(site_url: str) -> bool:
    """Whether ``site_url`` is served on this machine only (``localhost``,
    ``127.0.0.1``, ``::1``): a developer's site, where the public development
    key and plain http do no harm; any other host is production."""
    return urlsplit(site_url).hostname in _LOCAL_HOSTS


def refuse_development_key(settings: Settings, doing: str) -> None:
    """Raise a ConfigError if ``settings`` would sign links with the public
    development key for a site that is not a developer's (see
    :func:`is_local_site`); ``doing`` ends the message ("serving …").

    Anyone can forge a link signed with it (unsubscribe, confirm or open the
    preferences of anyone), and once a real key is set every link already
    mailed with it dies: one-click unsubscribes then fail for the token's
    lifetime. Links verify with OLD_SECRET_KEYS too, so it may be in neither.
    """
    if is_local_site(settings.site_url):
        return
    if settings.secret_key == DEV_SECRET_KEY:
        raise ConfigError(
            f"SECRET_KEY is the development key; set a long random SECRET_KEY before {doing}",
            hint="python -c 'import secrets; print(secrets.token_urlsafe(32))' makes one",
        )
    if DEV_SECRET_KEY in settings.old_secret_keys:
        raise ConfigError(
            "OLD_SECRET_KEYS holds the development key, which would still verify links; "
            f"remove it before {doing}"
        )
