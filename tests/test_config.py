"""Settings from the environment: one declaration per setting, every type
read and refused as declared, the documentation checked against the
declarations, and URLs shown without their secrets."""

from __future__ import annotations

import base64
import dataclasses
import re
from pathlib import Path

import pytest

from worker.config import KINDS, PROJECT_ROOT, SETTINGS, Settings, load_settings, redact_url
from worker.errors import ConfigError, MailError
from worker.logs import secret_values
from worker.mail import backend_from_url

DECLARED = {declared.variable: declared for declared in SETTINGS}
DOCUMENTATION = PROJECT_ROOT / "docs" / "configuration.md"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "smtp://AKIAEXAMPLE:BPa/Xy+9Se#cr?et@email-smtp.eu-west-1.amazonaws.com:587",
            "smtp://AKIAEXAMPLE:***@email-smtp.eu-west-1.amazonaws.com:587",
        ),
        (
            "postgresql://app:pa/ss@db.internal:5432/digest",
            "postgresql://app:***@db.internal:5432/digest",
        ),
        ("postmark://server-token@api.postmarkapp.com", "postmark://***@api.postmarkapp.com"),
        (
            "smtps://u:p%40ss@mail.example:465?connections=4",
            "smtps://u:***@mail.example:465?connections=4",
        ),
        ("sqlite:///verdict-digest.sqlite3", "sqlite:///verdict-digest.sqlite3"),
        ("smtp://relay.example:25", "smtp://relay.example:25"),
        # A feed's: credential-like parameters too, the rest kept readable.
        (
            "https://user:pw@host/feed?token=abc&page=2",
            "https://user:***@host/feed?token=***&page=2",
        ),
        (
            "https://feeds.example/rss?API-Key=k1&Signature=s2&lang=en&sort_key=d#access_token=t3",
            "https://feeds.example/rss?API-Key=***&Signature=***&lang=en&sort_key=***"
            "#access_token=***",
        ),
        ("https://feeds.example/rss?token=&page=2", "https://feeds.example/rss?token=&page=2"),
        # An "@" in a path is not a password.
        (
            "https://medium.com/@someone/feed?x-amz-security-token=abc",
            "https://medium.com/@someone/feed?x-amz-security-token=***",
        ),
    ],
)
def test_urls_are_shown_without_their_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_settings_never_show_their_secrets() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgres://app:db-pa/ss@db:5432/digest",
            "MAIL_URL": "smtp://user:mail-secret@relay:587",
            "SECRET_KEY": "signing-secret",
            "OLD_SECRET_KEYS": "older-secret",
        }
    )
    shown = repr(settings)
    for secret in ("db-pa/ss", "mail-secret", "signing-secret", "older-secret"):
        assert secret not in shown
    assert settings.database_url == "postgresql+psycopg://app:db-pa/ss@db:5432/digest"


def test_no_declared_secret_is_shown_and_every_one_is_masked_in_logs() -> None:
    secrets = [declared for declared in SETTINGS if declared.secret]
    assert {declared.variable for declared in secrets} >= {
        "SECRET_KEY",
        "OLD_SECRET_KEYS",
        "DATABASE_URL",
        "MAIL_URL",
        "BOUNCE_IMAP_URL",
        "POSTMARK_WEBHOOK_PASSWORD",
        "METRICS_TOKEN",
        "WEBHOOK_SECRET",
    }
    for declared in secrets:
        secret = f"never-shown-{declared.variable.lower()}"
        # A URL's password is its secret; any other secret is the whole value.
        text = f"imaps://user:{secret}@host/INBOX" if declared.variable.endswith("_URL") else secret
        if declared.variable == "WEBHOOK_SECRET":  # whsec_ and a base64 key: the key is masked too
            secret = base64.b64encode(secret.encode()).decode()
            text = f"whsec_{secret}"
        assert secret not in repr(load_settings({declared.variable: text})), declared.variable
        assert secret in secret_values({declared.variable: text}), declared.variable


def test_every_field_of_settings_is_declared_once() -> None:
    attributes = [declared.attribute for declared in SETTINGS if declared.attribute]
    assert attributes == [f.name for f in dataclasses.fields(Settings)]
    assert len(DECLARED) == len(SETTINGS), "a variable is declared twice"
    for declared in SETTINGS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", declared.variable), declared.variable
        assert declared.meaning and "\n" not in declared.meaning, declared.variable
    assert {"LOG_FORMAT", "LOG_LEVEL"} <= DECLARED.keys()  # read by worker.logs itself
    assert load_settings({}) == Settings()


@pytest.mark.parametrize(
    ("variable", "text", "value"),
    [
        ("SITE_URL", "https://verdicts.example", "https://verdicts.example"),
        ("MAIL_FROM", " Verdicts <d@v.example> ", " Verdicts <d@v.example> "),
        ("DELIVERY_BATCH_SIZE", "250", 250),
        ("FEED_MAX_BYTES", " 1024 ", 1024),
        ("DELIVERY_LEASE_SECONDS", "12.5", 12.5),
        ("MISFIRE_GRACE_HOURS", "1", 1.0),
        ("FEEDS_FILE", "content/feeds.yaml", Path("content/feeds.yaml")),
        ("DKIM_PRIVATE_KEY_FILE", "/etc/dkim/digest.pem", Path("/etc/dkim/digest.pem")),
        ("SNS_TOPIC_ARNS", "arn:a, ,arn:b ,", ("arn:a", "arn:b")),
        ("OLD_SECRET_KEYS", " older ,oldest", ("older", "oldest")),
        (
            "ALLOWED_ORIGINS",
            "https://verdicts.example, http://127.0.0.1:8000",
            ("https://verdicts.example", "http://127.0.0.1:8000"),
        ),
        ("DATABASE_URL", "postgres://db/digest", "postgresql+psycopg://db/digest"),
    ],
)
def test_each_type_is_read_from_its_variable(variable: str, text: str, value: object) -> None:
    attribute = DECLARED[variable].attribute
    assert attribute is not None
    read = getattr(load_settings({variable: text}), attribute)
    assert read == value
    assert type(read) is type(value)


def test_an_empty_variable_is_unset() -> None:
    empty = {declared.variable: "" for declared in SETTINGS}
    assert load_settings(empty) == Settings()


def test_overrides_win_over_the_environment_and_are_checked() -> None:
    env = {"DELIVERY_BATCH_SIZE": "250", "DATABASE_URL": "sqlite:///a.sqlite3"}
    settings = load_settings(env, batch_size=7, database_url="postgres://db/x", list_id=None)
    assert (settings.batch_size, settings.list_id) == (7, "weekly")
    assert settings.database_url == "postgresql+psycopg://db/x"
    with pytest.raises(ConfigError, match=r"^INGEST_EVERY: must be more than 0$"):
        load_settings({}, ingest_every=0)


@pytest.mark.parametrize(
    "variable",
    [d.variable for d in SETTINGS if d.kind in (KINDS[int], KINDS[float])],
)
def test_a_number_that_is_not_one_is_refused_naming_its_variable(variable: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{variable}: not a number: 'lots'$"):
        load_settings({variable: "lots"})


def test_a_whole_number_refuses_a_fraction() -> None:
    with pytest.raises(ConfigError, match=r"^DELIVERY_BATCH_SIZE: not a number: '1\.5'$"):
        load_settings({"DELIVERY_BATCH_SIZE": "1.5"})


def test_on_off_settings_take_either_spelling_and_refuse_a_typo() -> None:
    flags = {d.variable: d.attribute for d in SETTINGS if d.kind is KINDS[bool]}
    assert flags.keys() == {
        "VERP",
        "SNS_CONFIRM_SUBSCRIPTIONS",
        "DIGEST_REQUIRE_APPROVAL",
        "DIGEST_SEND_LOCAL",
        "CLICK_COUNTS",
    }
    for var, name in flags.items():
        for word in ("1", "true", " YES ", "On"):
            assert getattr(load_settings({var: word}), name) is True
        for word in ("0", "False", " no", "OFF"):
            assert getattr(load_settings({var: word}), name) is False
        with pytest.raises(ConfigError, match=rf"^{var}: .*'ture'$"):
            load_settings({var: "ture"})
    assert load_settings({}).digest_require_approval is False
    assert load_settings({}).click_counts is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIGEST_TIMEZONE": "Mars/Olympus"}, "DIGEST_TIMEZONE: unknown time zone 'Mars/Olympus'"),
        ({"SNS_CERT_URL_PATTERN": "(sns"}, "SNS_CERT_URL_PATTERN: not a regular expression: "),
        ({"SOFT_BOUNCE_LIMIT": "0"}, "SOFT_BOUNCE_LIMIT: must be 1 or more"),
        ({"DIGEST_BUILD_AT": "someday"}, "DIGEST_BUILD_AT: 'someday': expected a time like"),
        ({"DIGEST_SEND_AT": "0 9 1 * tue"}, "DIGEST_SEND_AT: '0 9 1 * tue': "),
        ({"MISFIRE_GRACE_HOURS": "0"}, "MISFIRE_GRACE_HOURS: must be more than 0"),
        ({"MISFIRE_GRACE_HOURS": "nan"}, "MISFIRE_GRACE_HOURS: must be more than 0"),
        ({"INGEST_EVERY": "-5"}, "INGEST_EVERY: must be more than 0"),
        ({"RETRY_SWEEP_EVERY": "0"}, "RETRY_SWEEP_EVERY: must be more than 0"),
        ({"FETCH_LOG_DAYS": "0"}, "FETCH_LOG_DAYS: must be more than 0"),
        ({"METHOD_URL": "http://verdicts.example/method"}, "METHOD_URL: not an https URL: "),
        ({"METHOD_URL": "verdicts.example/method"}, "METHOD_URL: not an https URL: "),
        ({"METHOD_URL": "https://[oops/method"}, "METHOD_URL: not an https URL: "),
        (
            {"COMPARE_URL": "https://verdicts.example/compare/"},
            "COMPARE_URL: 'https://verdicts.example/compare/' has no {slug} for the comparison's",
        ),
        (
            {"COMPARE_URL": "verdicts.example/compare/{slug}"},
            "COMPARE_URL: 'verdicts.example/compare/{slug}' is not an http(s) URL",
        ),
        ({"COMPARE_URL": "javascript:{slug}"}, "COMPARE_URL: 'javascript:{slug}' is not an"),
        (
            {"ALLOWED_ORIGINS": "https://verdicts.example/"},
            "ALLOWED_ORIGINS: 'https://verdicts.example/': write it as a browser sends it, "
            "'https://verdicts.example'",
        ),
        (
            {"ALLOWED_ORIGINS": "https://a.example,HTTPS://Verdicts.Example:443"},
            "ALLOWED_ORIGINS: 'HTTPS://Verdicts.Example:443': write it as a browser sends it, "
            "'https://verdicts.example'",
        ),
        (
            {"ALLOWED_ORIGINS": "verdicts.example"},
            "ALLOWED_ORIGINS: 'verdicts.example' is not an origin like https://verdicts.example",
        ),
        ({"ALLOWED_ORIGINS": "*"}, "ALLOWED_ORIGINS: '*' would let any site's pages call it"),
        (
            {"ALLOWED_ORIGINS": "https://u:secret@v.example"},
            "ALLOWED_ORIGINS: an origin has no user or password: 'v.example'",
        ),
    ],
)
def test_a_value_its_type_allows_but_the_worker_does_not_is_refused(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        load_settings(env)


def test_compare_url_is_read_as_given_and_defaults_to_none() -> None:
    given = "https://verdicts.example/compare/{slug}?ref=digest"
    assert load_settings({"COMPARE_URL": given}).compare_url == given
    assert load_settings({}).compare_url == ""


def test_a_schedule_is_read_in_the_configured_zone() -> None:
    settings = load_settings({"DIGEST_TIMEZONE": "Europe/Berlin", "DIGEST_SEND_AT": "0 9 * * 2"})
    assert (settings.timezone.key, settings.digest_send_at) == ("Europe/Berlin", "0 9 * * 2")


def test_a_refused_setting_carries_its_meaning_as_a_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DELIVERY_BATCH_SIZE": "lots"})
    error = caught.value
    assert str(error) == "DELIVERY_BATCH_SIZE: not a number: 'lots'"
    assert error.hint == (
        "Deliveries a worker claims at once (a whole number; unset: 100); see docs/configuration.md"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings({"SOFT_BOUNCE_LIMIT": "0"})
    assert caught.value.hint.startswith(DECLARED["SOFT_BOUNCE_LIMIT"].meaning)


def test_an_unencoded_password_is_refused_without_being_shown() -> None:
    with pytest.raises(MailError, match="percent-encode") as caught:
        backend_from_url("smtp://AKIAEXAMPLE:BPa/Xy+9Secret@email-smtp.example:587")
    assert "Xy+9Secret" not in str(caught.value)


def documented_defaults(markdown: str) -> dict[str, list[str]]:
    """The variables of the ``| variable | default | meaning |`` table, each
    with the defaults it is documented with (one, unless it has two rows),
    without their backticks."""
    lines = iter(markdown.splitlines())
    for line in lines:
        if line.replace(" ", "") == "|variable|default|meaning|":
            break
    else:
        raise AssertionError("no | variable | default | meaning | table")
    assert next(lines).startswith("| ---")
    found: dict[str, list[str]] = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip().replace("`", "") for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, line
        found.setdefault(cells[0], []).append(cells[1])
    return found


def undocumented_stray_and_wrong(
    documented: dict[str, list[str]], declared: dict[str, list[str]]
) -> tuple[list[str], list[str], list[str]]:
    """The variables declared but not documented, documented but not
    declared, and documented with other defaults than declared."""
    both = documented.keys() & declared.keys()
    return (
        sorted(declared.keys() - documented.keys()),
        sorted(documented.keys() - declared.keys()),
        sorted(variable for variable in both if documented[variable] != declared[variable]),
    )


def test_the_documentation_lists_every_declared_variable_with_its_default() -> None:
    documented = documented_defaults(DOCUMENTATION.read_text(encoding="utf-8"))
    declared = {variable: [d.documented_default] for variable, d in DECLARED.items()}
    assert undocumented_stray_and_wrong(documented, declared) == ([], [], [])


def test_the_documentation_check_finds_a_missing_a_stray_and_a_wrong_row() -> None:
    table = "\n".join(
        [
            "| variable | default | meaning |",
            "| --- | --- | --- |",
            "| `LIST_ID` | `monthly` | The list's id. |",
            "| `LIST_ID` | `weekly` | Again. |",
            "| `NOT_A_SETTING` | none | Nothing reads it. |",
            "",
            "| `LIST_NAME` | after the table | ignored |",
        ]
    )
    documented = documented_defaults(f"# Configuration\n\n{table}\n")
    assert documented == {"LIST_ID": ["monthly", "weekly"], "NOT_A_SETTING": ["none"]}
    declared = {"LIST_ID": ["weekly"], "LIST_NAME": ["Weekly AI Tool Verdicts"]}
    assert undocumented_stray_and_wrong(documented, declared) == (
        ["LIST_NAME"],  # its row is after the table
        ["NOT_A_SETTING"],
        ["LIST_ID"],  # two rows, one of them wrong
    )
    with pytest.raises(AssertionError, match=re.escape("no | variable | default")):
        documented_defaults("| `LIST_ID` | `weekly` | no header |")
