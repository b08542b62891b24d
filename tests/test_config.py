"""Settings from the environment, and URLs shown without their secrets."""

from __future__ import annotations

import pytest

from worker.config import load_settings, redact_url
from worker.errors import ConfigError, MailError
from worker.mail import backend_from_url


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


def test_an_unencoded_password_is_refused_without_being_shown() -> None:
    with pytest.raises(MailError, match="percent-encode") as caught:
        backend_from_url("smtp://AKIAEXAMPLE:BPa/Xy+9Secret@email-smtp.example:587")
    assert "Xy+9Secret" not in str(caught.value)


def test_bad_values_name_their_variable() -> None:
    with pytest.raises(ConfigError, match="DELIVERY_BATCH_SIZE: not a number"):
        load_settings({"DELIVERY_BATCH_SIZE": "lots"})
    with pytest.raises(ConfigError, match="DIGEST_TIMEZONE: unknown time zone"):
        load_settings({"DIGEST_TIMEZONE": "Mars/Olympus"})


def test_on_off_settings_take_either_spelling_and_refuse_a_typo() -> None:
    for var, name in (
        ("VERP", "verp"),
        ("SNS_CONFIRM_SUBSCRIPTIONS", "sns_confirm_subscriptions"),
        ("DIGEST_REQUIRE_APPROVAL", "digest_require_approval"),
    ):
        for word in ("1", "true", " YES ", "On"):
            assert getattr(load_settings({var: word}), name) is True
        for word in ("0", "False", " no", "OFF"):
            assert getattr(load_settings({var: word}), name) is False
        with pytest.raises(ConfigError, match=rf"^{var}: .*'ture'$"):
            load_settings({var: "ture"})
    assert load_settings({}).digest_require_approval is False
