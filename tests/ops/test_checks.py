"""``digest check``: a good environment passes line by line, a bad one names
each problem in a line of its own, against real stores and a real SMTP
server (STARTTLS, AUTH, NOOP). The mail probes themselves are tested in
test_health.py."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event

from tests.support.dkimkeys import DKIMKeys
from tests.support.smtpserver import Handler, self_signed, smtp_server
from worker.config import DEV_SECRET_KEY
from worker.ops.checks import Finding, Level, check_environment
from worker.ops.health import head_revision
from worker.store import MIGRATIONS, make_engine, upgrade

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
SMTP_PASSWORD = "check-smtp-pass-1618"
SECRET_KEY = "a-long-random-production-secret-key-0123456789"


@pytest.fixture
def smtp_url(tmp_path: Path) -> Iterator[str]:
    """A relay that wants STARTTLS and a login."""
    with smtp_server(
        Handler(), tls_context=self_signed(tmp_path), auth=("mailer", SMTP_PASSWORD)
    ) as controller:
        yield f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:{controller.port}?verify=off"


@pytest.fixture
def feeds_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(
        '[[feed]]\nurl = "https://a.example/feed"\n\n[[feed]]\nurl = "https://b.example/feed"\n'
    )
    return path


@pytest.fixture
def good_env(database_url: str, smtp_url: str, feeds_file: Path, tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    return {
        "DATABASE_URL": database_url,
        "MAIL_URL": smtp_url,
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": SECRET_KEY,
        "POSTAL_ADDRESS": "Verdicts Ltd, 1 Quay Street, Dublin, Ireland",
        "FEEDS_FILE": str(feeds_file),
        "MAIL_FROM": "Weekly AI Tool Verdicts <digest@verdicts.example>",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DKIM_PRIVATE_KEY_FILE": str(key),
    }


def digest_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "worker", "check"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def next_at(weekday: int, hour: int, zone: str = "Europe/Berlin") -> dt.datetime:
    """The next ``weekday`` (Monday is 0) at ``hour``:00 in ``zone`` after now."""
    now = dt.datetime.now(ZoneInfo(zone))
    day = now.date() + dt.timedelta(days=(weekday - now.weekday()) % 7)
    at = dt.datetime.combine(day, dt.time(hour), ZoneInfo(zone))
    return at if at > now else at + dt.timedelta(days=7)


def by_subject(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.subject, []).append(finding)
    return grouped


def test_a_good_environment_passes_every_check(good_env: dict[str, str]) -> None:
    done = digest_check(good_env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert all(line.startswith("ok ") for line in lines), done.stdout
    said = {line.split()[1].rstrip(":") for line in lines}
    assert said >= {
        "DATABASE_URL",
        "MAIL_URL",
        "SITE_URL",
        "SECRET_KEY",
        "POSTAL_ADDRESS",
        "FEEDS_FILE",
        "MAIL_FROM",
        "DIGEST_TIMEZONE",
        "schedule",
        "DKIM_PRIVATE_KEY_FILE",
    }
    out = done.stdout
    assert f"schema at the latest revision ({head_revision()})" in out
    assert "answered NOOP with 250, logged in as mailer" in out
    assert "FEEDS_FILE: " in out and ": 2 feeds" in out
    # `digest check` reads the real clock: the defaults, Mon 18:00 and Tue 09:00 in Berlin.
    build, send = next_at(0, 18), next_at(1, 9)
    assert f"schedule: next build {build:%a %Y-%m-%d %H:%M}, send {send:%a %Y-%m-%d %H:%M}" in out
    assert "SECRET_KEY: set (46 characters)" in out
    for secret in (SMTP_PASSWORD, SECRET_KEY):
        assert secret not in done.stdout + done.stderr


def test_a_bad_environment_names_each_problem_once(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    make_engine(f"sqlite:///{empty}").connect().close()  # a file with no schema
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("")
    env = {
        "DATABASE_URL": f"sqlite:///{empty}",
        "MAIL_URL": f"file://{not_a_dir}/outbox",
        "SITE_URL": "http://verdicts.example",
        "FEEDS_FILE": str(tmp_path / "missing.toml"),
        "MAIL_FROM": "Weekly <not-an-address>",
        "DIGEST_TIMEZONE": "Mars/Olympus_Mons",
        "DKIM_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem"),
        "VERP": "on",
    }
    done = digest_check(env)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    expected = {
        "DIGEST_TIMEZONE": ("error", "unknown time zone 'Mars/Olympus_Mons'"),
        "DATABASE_URL": ("error", "the store has no schema; run: digest db upgrade"),
        "MAIL_URL": ("error", "does not exist and cannot be created in"),
        "SITE_URL": ("error", "is not https"),
        "SECRET_KEY": ("error", "not set (the development key"),
        "POSTAL_ADDRESS": ("error", "the sample address"),
        "FEEDS_FILE": ("error", "cannot read the feeds file"),
        "MAIL_FROM": ("error", "holds no valid address"),
        "DKIM_PRIVATE_KEY_FILE": ("error", "cannot read"),
        "VERP": ("warning", "does nothing without BOUNCE_ADDRESS"),
    }
    for subject, (level, words) in expected.items():
        mine = [line for line in lines if line.split()[1] == f"{subject}:"]
        assert len(mine) == 1, (subject, done.stdout)
        assert mine[0].startswith(level) and words in mine[0], mine[0]
    assert not [line for line in lines if " schedule:" in line]  # its time zone was bad
    assert len(lines) == len(expected), done.stdout
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_is_named_without_its_password(
    good_env: dict[str, str],
) -> None:
    env = {**good_env, "DATABASE_URL": "postgres://digest:db-pass-6626@127.0.0.1:1/digest"}
    findings = by_subject(check_environment(env, NOW))
    [database] = findings["DATABASE_URL"]
    assert database.level == Level.ERROR
    assert database.message.startswith(
        "postgresql+psycopg://digest:***@127.0.0.1:1/digest is unreachable: "
    )
    assert "db-pass-6626" not in database.line()


def test_the_database_check_keeps_the_urls_connect_timeout(
    good_env: dict[str, str], pg_engine: Engine
) -> None:
    timeouts: list[object] = []

    def record(_dialect: object, _record: object, _args: object, params: dict) -> None:
        timeouts.append(params.get("connect_timeout"))

    url = pg_engine.url.render_as_string(hide_password=False)
    event.listen(Engine, "do_connect", record)
    try:
        findings = check_environment({**good_env, "DATABASE_URL": f"{url}&connect_timeout=3"}, NOW)
    finally:
        event.remove(Engine, "do_connect", record)
    assert by_subject(findings)["DATABASE_URL"][0].level == Level.OK
    assert timeouts and set(timeouts) == {"3"}


def test_a_schema_behind_the_code_is_an_error(good_env: dict[str, str], tmp_path: Path) -> None:

    previous = ScriptDirectory(str(MIGRATIONS)).get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    old = tmp_path / "old.sqlite3"
    upgrade(make_engine(f"sqlite:///{old}"), previous)
    [database] = by_subject(
        check_environment({**good_env, "DATABASE_URL": f"sqlite:///{old}"}, NOW)
    )["DATABASE_URL"]
    assert database.level == Level.ERROR
    assert f"the schema is at revision {previous}, this code expects {head_revision()}" in (
        database.message
    )


def test_a_missing_sqlite_file_is_not_created_by_the_check(
    good_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    [database] = by_subject(
        check_environment({**good_env, "DATABASE_URL": f"sqlite:///{missing}"}, NOW)
    )["DATABASE_URL"]
    assert database.level == Level.ERROR and "no SQLite file at" in database.message
    assert not missing.exists()


def test_smtp_credentials_the_relay_refuses_are_an_error(
    good_env: dict[str, str], smtp_url: str
) -> None:
    wrong = smtp_url.replace(SMTP_PASSWORD, "not-the-password-99")
    [mail] = by_subject(check_environment({**good_env, "MAIL_URL": wrong}, NOW))["MAIL_URL"]
    assert mail.level == Level.ERROR
    assert mail.message.startswith("smtp://mailer:***@127.0.0.1:")
    assert "cannot connect or log in: 535" in mail.message
    assert "not-the-password-99" not in mail.line()


@pytest.mark.parametrize(
    ("key", "old", "problem"),
    [
        ("short-key", "", "SECRET_KEY: 9 characters; use at least 32 random ones"),
        (SECRET_KEY, DEV_SECRET_KEY, "OLD_SECRET_KEYS: holds the development key"),
    ],
)
def test_weak_keys_in_production_are_errors(
    good_env: dict[str, str], key: str, old: str, problem: str
) -> None:
    findings = check_environment({**good_env, "SECRET_KEY": key, "OLD_SECRET_KEYS": old}, NOW)
    [error] = [f.line() for f in findings if f.level == Level.ERROR]
    assert error.startswith(f"error   {problem}")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://digest:pass-7777@127.0.0.1:abc/digest", "not a database URL"),
        ("postgresql+pg8000://digest:pass-7777@127.0.0.1/digest", "cannot use"),
    ],
)
def test_a_database_url_that_builds_no_engine_is_one_line(
    good_env: dict[str, str], url: str, problem: str
) -> None:
    [database] = by_subject(check_environment({**good_env, "DATABASE_URL": url}, NOW))[
        "DATABASE_URL"
    ]
    assert database.level == Level.ERROR and problem in database.message
    assert "\n" not in database.line() and "pass-7777" not in database.line()
    done = digest_check({**good_env, "DATABASE_URL": url})
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout
    assert "pass-7777" not in done.stderr + done.stdout


def test_a_secret_too_short_to_be_redacted_in_logs_is_an_error(good_env: dict[str, str]) -> None:
    env = {
        **good_env,
        "BOUNCE_IMAP_URL": "imaps://bounces:abc1@127.0.0.1:1/INBOX",
        "POSTMARK_WEBHOOK_PASSWORD": "hook7",
        "METRICS_TOKEN": "tok-12345678",  # long enough
    }
    findings = by_subject(check_environment(env, NOW))
    errors = {
        subject: [f.message for f in found if f.level == Level.ERROR]
        for subject, found in findings.items()
    }
    assert errors["BOUNCE_IMAP_URL"] == [
        "its password has 4 characters; use at least 8 (shorter ones are not masked in logs)"
    ]
    assert errors["POSTMARK_WEBHOOK_PASSWORD"] == [
        "5 characters; use at least 8 (shorter ones are not masked in logs)"
    ]
    assert not errors.get("METRICS_TOKEN") and not errors.get("MAIL_URL")
    lines = " ".join(f.line() for found in findings.values() for f in found)
    assert "abc1" not in lines and "hook7" not in lines


def test_on_this_machine_the_development_defaults_pass(
    database_url: str, feeds_file: Path, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "MAIL_URL": "console://",
        "FEEDS_FILE": str(feeds_file),
    }
    findings = by_subject(check_environment(env, NOW))
    assert not [f for fs in findings.values() for f in fs if f.level == Level.ERROR]
    assert findings["SITE_URL"][0].message.startswith("http://localhost:5000 is this machine")
    assert findings["POSTAL_ADDRESS"][0].level == Level.WARNING
    assert findings["MAIL_URL"][0].level == Level.OK
    assert "SECRET_KEY" not in findings

    production = {**env, "SITE_URL": "https://verdicts.example", "SECRET_KEY": SECRET_KEY}
    mail = by_subject(check_environment(production, NOW))["MAIL_URL"][0]
    assert mail.level == Level.WARNING and "nothing to reach" in mail.message


def test_no_feeds_file_at_the_default_place_is_a_warning(
    good_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"  # tmp_path holds the good_env's feeds.toml
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where the default feeds.toml would be
    env = {k: v for k, v in good_env.items() if k != "FEEDS_FILE"}
    findings = check_environment(env, NOW)
    [feeds] = by_subject(findings)["FEEDS_FILE"]
    assert feeds.level == Level.WARNING
    assert feeds.message == "no feeds file (feeds.toml): content only by digest import"
    assert not [f for f in findings if f.level == Level.ERROR]


def test_a_bad_feeds_file_and_a_bad_key_are_named(good_env: dict[str, str], tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: ftp://old.example/feed\n  - title: no url\n")
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    findings = by_subject(
        check_environment(
            {**good_env, "FEEDS_FILE": str(feeds), "DKIM_PRIVATE_KEY_FILE": str(key)}, NOW
        )
    )
    [listed] = findings["FEEDS_FILE"]
    assert listed.level == Level.ERROR
    assert "feeds[0].url: 'ftp://old.example/feed'" in listed.message
    assert "feeds[1]: needs a url" in listed.message
    [signing] = findings["DKIM_PRIVATE_KEY_FILE"]
    assert signing.level == Level.ERROR and "is not a PEM private key" in signing.message


def test_dkim_keys_are_checked_for_their_kind(
    good_env: dict[str, str], dkim_keys: DKIMKeys
) -> None:
    both = by_subject(check_environment({**good_env, **dkim_keys.environment()}, NOW))
    [rsa_key] = both["DKIM_PRIVATE_KEY_FILE"]
    [ed_key] = both["DKIM_ED25519_KEY_FILE"]
    assert (rsa_key.level, ed_key.level) == (Level.OK, Level.OK)
    assert "holds a 2048-bit RSA key" in rsa_key.message
    assert "holds an Ed25519 key" in ed_key.message

    swapped = {
        **good_env,
        "DKIM_PRIVATE_KEY_FILE": str(dkim_keys.ed25519),
        "DKIM_ED25519_KEY_FILE": str(dkim_keys.rsa),
    }
    findings = by_subject(check_environment(swapped, NOW))
    [rsa_key] = findings["DKIM_PRIVATE_KEY_FILE"]
    [ed_key] = findings["DKIM_ED25519_KEY_FILE"]
    assert rsa_key.level == ed_key.level == Level.ERROR
    assert "holds an Ed25519 key, not an RSA key" in rsa_key.message
    assert "holds an RSA key, not an Ed25519 key" in ed_key.message

    alone = {k: v for k, v in good_env.items() if k != "DKIM_PRIVATE_KEY_FILE"}
    alone["DKIM_ED25519_KEY_FILE"] = str(dkim_keys.ed25519)
    [ed_key] = by_subject(check_environment(alone, NOW))["DKIM_ED25519_KEY_FILE"]
    assert ed_key.level == Level.WARNING and "set DKIM_PRIVATE_KEY_FILE too" in ed_key.message
