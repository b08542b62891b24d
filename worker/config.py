"""Settings read from the environment (12-factor), with working defaults for
the embedded setup: a SQLite file and a file outbox in the current directory.

Secrets (``SECRET_KEY``, passwords inside ``DATABASE_URL`` and ``MAIL_URL``)
are kept out of ``repr`` so that a logged or printed ``Settings`` never shows
them; use :func:`redact_url` to show a URL to a person.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from worker.errors import ConfigError

# The repository root: templates and sample data live beside the packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-not-secret"


@dataclass(frozen=True)
class Settings:
    """Everything the worker reads from its environment."""

    database_url: str = field(default="sqlite:///verdict-digest.sqlite3", repr=False)
    mail_url: str = field(default="file://outbox", repr=False)
    site_url: str = "http://localhost:5000"
    secret_key: str = field(default=DEV_SECRET_KEY, repr=False)
    # Older keys, still accepted when verifying tokens (key rotation).
    old_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    mail_from: str = "Weekly AI Tool Verdicts <digest@verdicts.example>"
    # Envelope sender (Return-Path) for bounces; empty: MAIL_FROM's address.
    # Each edition gets its own (bounces+2026-W48@…); with VERP each
    # recipient too (bounces+2026-W48.1234.5f3a9c0e@…: 1234 the subscriber
    # id, then an HMAC so that a forged bounce cannot name anyone).
    bounce_address: str = ""
    verp: bool = False
    # DKIM signing, on when a private key file is given.
    dkim_key_file: Path | None = None
    dkim_selector: str = "digest"
    dkim_domain: str = ""  # default: MAIL_FROM's domain
    postal_address: str = "Verdict Digest, 548 Market St #0000, San Francisco, CA 94104, USA"
    digest_timezone: str = "UTC"
    digest_send_at: str = "tue 09:00"
    # The clock and cron mode (docs/decisions.md, "The clock"): when the
    # week's edition is built (cron-style, like DIGEST_SEND_AT), whether it
    # waits for `digest approve`, how late a missed build or send is still
    # made up, and the periods (minutes) of ingest and the retry sweep.
    digest_build_at: str = "mon 18:00"
    digest_require_approval: bool = False
    misfire_grace_hours: float = 12.0
    ingest_every: int = 60
    retry_sweep_every: int = 5
    fetch_log_days: int = 30
    feeds_file: Path = Path("feeds.toml")
    list_id: str = "weekly"
    list_name: str = "Weekly AI Tool Verdicts"
    # Constant per mail stream (never per recipient), as Gmail asks.
    feedback_id: str = "weekly:digest:verdict-digest"
    feed_timeout: float = 10.0
    feed_max_bytes: int = 5 * 1024 * 1024
    templates_dir: Path = PROJECT_ROOT / "templates"
    # Delivery engine: batch size, how long a claimed batch is a worker's, and
    # how transient failures are retried (exponential backoff with jitter).
    batch_size: int = 100
    lease_seconds: float = 300.0
    max_attempts: int = 5
    max_age_hours: float = 48.0
    retry_base_seconds: float = 60.0
    retry_cap_seconds: float = 3600.0
    # Subscriber web app: subscribe requests accepted per client address an
    # hour and per email address a day; reverse proxies in front of it (one
    # on Heroku) whose X-Forwarded-For is trusted for the client address.
    subscribe_limit_per_client: int = 20
    subscribe_limit_per_address: int = 3
    trusted_proxies: int = 0

    # Bounce and complaint intake (docs/subscribers.md): the soft bounces
    # that suppress an address, the IMAP mailbox `digest bounces fetch`
    # reads, where SNS signing certificates may come from and which topics
    # count, and the Postmark webhook's basic-auth credentials.
    soft_bounce_limit: int = 3
    bounce_imap_url: str = field(default="", repr=False)
    sns_cert_url_pattern: str = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
    sns_topic_arns: tuple[str, ...] = ()
    sns_confirm_subscriptions: bool = False
    postmark_webhook_user: str = ""
    postmark_webhook_password: str = field(default="", repr=False)
    # Bearer token /metrics asks for; empty: /metrics is open.
    metrics_token: str = field(default="", repr=False)

    @property
    def timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.digest_timezone)

    @property
    def list_domain(self) -> str:
        """The domain used for List-Id, Message-ID and mailto links."""
        sender = self.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
        return sender.rsplit("@", 1)[-1] if "@" in sender else "localhost"

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"Settings({shown}, database_url={redact_url(self.database_url)!r}, ...)"


_ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "mail_url": "MAIL_URL",
    "site_url": "SITE_URL",
    "secret_key": "SECRET_KEY",
    "mail_from": "MAIL_FROM",
    "postal_address": "POSTAL_ADDRESS",
    "digest_timezone": "DIGEST_TIMEZONE",
    "digest_send_at": "DIGEST_SEND_AT",
    "digest_build_at": "DIGEST_BUILD_AT",
    "bounce_address": "BOUNCE_ADDRESS",
    "dkim_selector": "DKIM_SELECTOR",
    "dkim_domain": "DKIM_DOMAIN",
    "list_id": "LIST_ID",
    "list_name": "LIST_NAME",
    "feedback_id": "FEEDBACK_ID",
    "bounce_imap_url": "BOUNCE_IMAP_URL",
    "sns_cert_url_pattern": "SNS_CERT_URL_PATTERN",
    "postmark_webhook_user": "POSTMARK_WEBHOOK_USER",
    "postmark_webhook_password": "POSTMARK_WEBHOOK_PASSWORD",
    "metrics_token": "METRICS_TOKEN",
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``).

    Keyword ``overrides`` win over the environment; the CLI uses them for its
    options.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name, var in _ENV_NAMES.items():
        if env.get(var):
            values[name] = env[var]
    if env.get("OLD_SECRET_KEYS"):
        values["old_secret_keys"] = tuple(
            k.strip() for k in env["OLD_SECRET_KEYS"].split(",") if k.strip()
        )
    for name, var in (
        ("verp", "VERP"),
        ("sns_confirm_subscriptions", "SNS_CONFIRM_SUBSCRIPTIONS"),
        ("digest_require_approval", "DIGEST_REQUIRE_APPROVAL"),
    ):
        if env.get(var):
            values[name] = _flag(env, var)
    if env.get("SNS_TOPIC_ARNS"):
        values["sns_topic_arns"] = tuple(
            a.strip() for a in env["SNS_TOPIC_ARNS"].split(",") if a.strip()
        )
    if env.get("DKIM_PRIVATE_KEY_FILE"):
        values["dkim_key_file"] = Path(env["DKIM_PRIVATE_KEY_FILE"])
    if env.get("FEEDS_FILE"):
        values["feeds_file"] = Path(env["FEEDS_FILE"])
    if env.get("TEMPLATES_DIR"):
        values["templates_dir"] = Path(env["TEMPLATES_DIR"])
    for name, var, kind in (
        ("feed_timeout", "FEED_TIMEOUT", float),
        ("feed_max_bytes", "FEED_MAX_BYTES", int),
        ("batch_size", "DELIVERY_BATCH_SIZE", int),
        ("lease_seconds", "DELIVERY_LEASE_SECONDS", float),
        ("max_attempts", "DELIVERY_MAX_ATTEMPTS", int),
        ("max_age_hours", "DELIVERY_MAX_AGE_HOURS", float),
        ("retry_base_seconds", "RETRY_BASE_SECONDS", float),
        ("retry_cap_seconds", "RETRY_CAP_SECONDS", float),
        ("soft_bounce_limit", "SOFT_BOUNCE_LIMIT", int),
        ("subscribe_limit_per_client", "SUBSCRIBE_LIMIT_PER_CLIENT", int),
        ("subscribe_limit_per_address", "SUBSCRIBE_LIMIT_PER_ADDRESS", int),
        ("trusted_proxies", "TRUSTED_PROXIES", int),
        ("misfire_grace_hours", "MISFIRE_GRACE_HOURS", float),
        ("ingest_every", "INGEST_EVERY", int),
        ("retry_sweep_every", "RETRY_SWEEP_EVERY", int),
        ("fetch_log_days", "FETCH_LOG_DAYS", int),
    ):
        if env.get(var):
            try:
                values[name] = kind(env[var])
            except ValueError:
                raise ConfigError(f"{var}: not a number: {env[var]!r}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "database_url" in values:
        values["database_url"] = normalise_database_url(str(values["database_url"]))
    settings = Settings(**values)  # type: ignore[arg-type]
    try:
        settings.timezone  # noqa: B018 - validate early, with the variable's name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"DIGEST_TIMEZONE: unknown time zone {settings.digest_timezone!r}"
        ) from None
    try:
        re.compile(settings.sns_cert_url_pattern)
    except re.error as error:
        raise ConfigError(f"SNS_CERT_URL_PATTERN: not a regular expression: {error}") from None
    if settings.soft_bounce_limit < 1:
        raise ConfigError("SOFT_BOUNCE_LIMIT: must be 1 or more")
    _check_schedule(settings)
    return settings


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(env: Mapping[str, str], var: str) -> bool:
    """``env[var]`` as a yes/no setting; anything else is refused, since a
    typo read as "no" could, say, send an edition nobody approved."""
    word = env[var].strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(f"{var}: not one of 1/true/yes/on or 0/false/no/off: {env[var]!r}")


def _check_schedule(settings: Settings) -> None:
    """The clock's settings, each refused with its variable's name."""
    from worker.domain.cron import cron_trigger

    for var, value in (
        ("DIGEST_BUILD_AT", settings.digest_build_at),
        ("DIGEST_SEND_AT", settings.digest_send_at),
    ):
        try:
            cron_trigger(value, settings.timezone)
        except ValueError as error:
            raise ConfigError(f"{var}: {value!r}: {error}") from None
    for var, number in (
        ("MISFIRE_GRACE_HOURS", settings.misfire_grace_hours),
        ("INGEST_EVERY", settings.ingest_every),
        ("RETRY_SWEEP_EVERY", settings.retry_sweep_every),
        ("FETCH_LOG_DAYS", settings.fetch_log_days),
    ):
        if not number > 0:
            raise ConfigError(f"{var}: must be more than 0")


def normalise_database_url(url: str) -> str:
    """Accept Heroku-style ``postgres://`` URLs and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """``url`` with any password (or token) replaced by ``***``, safe to print
    or log.

    Redacted by position, between ``//`` and the authority's last ``@``,
    rather than by a URL parser: a password with an unencoded ``/``, ``?``
    or ``#`` (SES SMTP passwords have them) would fool the parser into
    finding none.
    """
    scheme, slashes, rest = url.partition("://")
    if not slashes or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}:***@{host}" if colon else f"{scheme}://***@{host}"


# The hosts that are this machine: a SITE_URL there is a developer's.
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_local_site(site_url: str) -> bool:
    """Whether ``site_url`` is served on this machine only (``localhost``,
    ``127.0.0.1``, ``::1``): a developer's site, where the public development
    key and plain http do no harm; any other host is production."""
    return urlsplit(site_url).hostname in _LOCAL_HOSTS
