"""Message-IDs and envelope senders (VERP) of our messages: minted here, and
read back here when a bounce or a reply names one.

Both carry an HMAC under ``SECRET_KEY``, so that nobody else can write an id
or an address that names a subscriber, and a forged bounce does nothing.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from worker.config import Settings
from worker.domain.keyed import hmac_of


@dataclass(frozen=True)
class EditionRef:
    edition_id: int
    week: str


def envelope_sender(
    settings: Settings, edition: EditionRef | None = None, subscriber_id: int | None = None
) -> str:
    """The SMTP envelope sender: ``MAIL_FROM``'s address, or with
    ``BOUNCE_ADDRESS`` set, that address tagged with the edition (and with
    ``VERP``, the subscriber and an HMAC of both:
    ``bounces+2026-W48.1234.89abcdef@…``), so a bounce says what it is about
    and nobody else can write such an address."""
    if not settings.bounce_address or edition is None:
        return parseaddr(settings.mail_from)[1]
    local, _, domain = parseaddr(settings.bounce_address)[1].rpartition("@")
    tag = edition.week
    if settings.verp and subscriber_id is not None:
        tag = f"{tag}.{subscriber_id}.{_verp_mac(settings.secret_key, edition.week, subscriber_id)}"
    return f"{local}+{tag}@{domain}"


def message_id_for(edition: EditionRef, subscriber_id: int, settings: Settings) -> str:
    """Deterministic, so a retried delivery keeps its id (clients dedupe on
    it); the HMAC keeps other subscribers' ids unguessable."""
    tag = _message_id_mac(settings.secret_key, edition.edition_id, subscriber_id)
    return f"<{edition.week}.{edition.edition_id}.{subscriber_id}.{tag}@{settings.list_domain}>"


def sent_message_id(
    edition: EditionRef, subscriber_id: int, settings: Settings, now: dt.datetime, test: bool
) -> str:
    """A delivery's Message-ID; a test's also names its time: Gmail drops a
    message whose Message-ID the mailbox has already seen, which would hide
    every test after the first."""
    message_id = message_id_for(edition, subscriber_id, settings)
    if not test:
        return message_id
    return f"<test.{now.timestamp():.6f}.{message_id[1:]}"


@dataclass(frozen=True)
class SentTo:
    """What a Message-ID or VERP envelope address of ours proves: the week's
    edition went to this subscriber."""

    week: str
    subscriber_id: int


_WEEK = r"(?P<week>\d{4}-W\d{2})"
_EDITION = r"(?P<edition>\d{1,18})"
_SUBSCRIBER = r"(?P<subscriber>\d{1,18})"


def subscriber_of_message_id(message_id: str, settings: Settings) -> SentTo | None:
    """The edition and subscriber a Message-ID made by :func:`message_id_for`
    names, when its HMAC is genuine (under ``SECRET_KEY`` or an
    ``OLD_SECRET_KEYS`` one); None for any other id."""
    return _sent_to(
        message_id,
        rf"{_WEEK}\.{_EDITION}\.{_SUBSCRIBER}\.(?P<tag>[0-9a-f]{{12}})@{re.escape(settings.list_domain)}",
        lambda key, found: _message_id_mac(key, int(found["edition"]), int(found["subscriber"])),
        settings,
    )


def subscriber_of_envelope(address: str, settings: Settings) -> SentTo | None:
    """The edition and subscriber a VERP envelope sender made by
    :func:`envelope_sender` names, when its HMAC is genuine; None for any
    other address, and for every address while ``BOUNCE_ADDRESS`` is unset.
    Not tied to ``VERP``: bounces of mail sent before it was turned off
    still arrive."""
    if not settings.bounce_address:
        return None
    local, _, domain = parseaddr(settings.bounce_address)[1].rpartition("@")
    return _sent_to(
        address,
        rf"{re.escape(local)}\+{_WEEK}\.{_SUBSCRIBER}\.(?P<tag>[0-9a-f]{{8}})@{re.escape(domain)}",
        lambda key, found: _verp_mac(key, found["week"].upper(), int(found["subscriber"])),
        settings,
    )


def _sent_to(
    text: str,
    pattern: str,
    mac: Callable[[str, re.Match[str]], str],
    settings: Settings,
) -> SentTo | None:
    """What ``text`` (an id or address, in angle brackets or not) names when
    it matches ``pattern`` whole, in any case, and its ``tag`` is what
    ``mac`` gives of it under ``SECRET_KEY`` or one of ``OLD_SECRET_KEYS``
    (compared in constant time); None otherwise."""
    found = re.fullmatch(rf"<?{pattern}>?", text.strip(), re.IGNORECASE)
    if not found:
        return None
    keys = (settings.secret_key, *settings.old_secret_keys)
    if not any(hmac.compare_digest(mac(key, found), found["tag"].lower()) for key in keys):
        return None
    return SentTo(found["week"].upper(), int(found["subscriber"]))


def _message_id_mac(secret_key: str, edition_id: int, subscriber_id: int) -> str:
    return hmac_of(
        secret_key.encode(), "sha256", f"{edition_id}.{subscriber_id}".encode()
    ).hexdigest()[:12]


def _verp_mac(secret_key: str, week: str, subscriber_id: int) -> str:
    # "verp." keeps these apart from the Message-ID's HMACs under the same key.
    return hmac_of(
        secret_key.encode(), "sha256", f"verp.{week}.{subscriber_id}".encode()
    ).hexdigest()[:8]
