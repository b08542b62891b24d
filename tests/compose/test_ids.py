"""Message-IDs and VERP addresses: stable per delivery, read back only
when their HMAC is genuine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from tests.support.messages import ADA, EDITION, NOW
from worker.compose.ids import (
    SentTo,
    envelope_sender,
    message_id_for,
    sent_message_id,
    subscriber_of_envelope,
    subscriber_of_message_id,
)
from worker.compose.message import SegmentParts, compose_message
from worker.compose.template import MessageTemplate
from worker.config import Settings


def test_message_id_is_stable_per_delivery_and_unguessable(settings: Settings) -> None:
    first = message_id_for(EDITION, 42, settings)
    assert first == message_id_for(EDITION, 42, settings) != message_id_for(EDITION, 43, settings)
    assert re.fullmatch(r"<2026-W48\.7\.42\.[0-9a-f]{12}@verdicts\.example>", first)
    rekeyed = dataclasses.replace(settings, secret_key="another-key")
    assert message_id_for(EDITION, 42, rekeyed) != first
    assert sent_message_id(EDITION, 42, settings, NOW, test=False) == first


def test_a_test_sends_message_id_is_new_each_time(settings: Settings) -> None:
    first = sent_message_id(EDITION, 42, settings, NOW, test=True)
    later = sent_message_id(EDITION, 42, settings, NOW + dt.timedelta(seconds=1), test=True)
    assert first.startswith("<test.") and later.startswith("<test.")
    assert first != later
    assert first.endswith(message_id_for(EDITION, 42, settings)[1:])


def test_envelope_sender_per_edition_and_verp(settings: Settings) -> None:
    bounces = dataclasses.replace(settings, bounce_address="bounces@verdicts.example")
    verp = dataclasses.replace(bounces, verp=True)
    parts = SegmentParts("s", "<p>h</p>", "t")
    assert compose_message(parts, ADA, EDITION, settings).envelope_from == "digest@verdicts.example"
    assert compose_message(parts, ADA, EDITION, bounces).envelope_from == (
        "bounces+2026-W48@verdicts.example"
    )
    tagged = compose_message(parts, ADA, EDITION, verp).envelope_from
    assert re.fullmatch(r"bounces\+2026-W48\.42\.[0-9a-f]{8}@verdicts\.example", tagged)
    for config in (settings, bounces, verp):
        fast = MessageTemplate(parts, EDITION, config).compose(ADA, NOW)
        assert fast == compose_message(parts, ADA, EDITION, config, now=NOW)


def test_a_message_id_of_ours_names_its_subscriber_only_when_genuine(settings: Settings) -> None:
    genuine = message_id_for(EDITION, 42, settings)
    assert subscriber_of_message_id(genuine, settings) == SentTo("2026-W48", 42)
    assert subscriber_of_message_id(genuine.strip("<>").upper(), settings) == SentTo("2026-W48", 42)
    week, edition_id, subscriber_id, rest = genuine.split(".", 3)
    for forged in (
        f"{week}.{edition_id}.43.{rest}",  # another subscriber, the same tag
        f"{week}.8.{subscriber_id}.{rest}",  # another edition
        genuine.replace(rest[:12], "0" * 12),
        genuine.replace("@verdicts.example", "@elsewhere.example"),
        "<2026-W48.7.42@verdicts.example>",
        "<CAF3w1e+Zk9q@mail.example.org>",
    ):
        assert subscriber_of_message_id(forged, settings) is None, forged
    rotated = dataclasses.replace(
        settings, secret_key="new-key", old_secret_keys=("test-secret-key",)
    )
    assert subscriber_of_message_id(genuine, rotated) == SentTo("2026-W48", 42)
    assert subscriber_of_message_id(genuine, dataclasses.replace(settings, secret_key="x")) is None


def test_a_verp_address_names_its_subscriber_only_when_genuine(settings: Settings) -> None:
    verp = dataclasses.replace(settings, bounce_address="bounces@verdicts.example", verp=True)
    address = envelope_sender(verp, EDITION, 42)
    assert subscriber_of_envelope(address, verp) == SentTo("2026-W48", 42)
    assert subscriber_of_envelope(f"<{address.upper()}>", verp) == SentTo("2026-W48", 42)
    # Still read once VERP is off: its bounces arrive for days.
    assert subscriber_of_envelope(address, dataclasses.replace(verp, verp=False)) is not None
    tag = address.split("@")[0].rsplit(".", 1)[1]
    for forged in (
        address.replace(".42.", ".43."),
        address.replace("W48", "W49"),
        address.replace(tag, "0" * 8),
        "bounces+2026-W48.42@verdicts.example",  # the unsigned form
        address.replace("@verdicts.example", "@elsewhere.example"),
        address.replace("bounces+", "other+"),
        envelope_sender(verp, EDITION),
    ):
        assert subscriber_of_envelope(forged, verp) is None, forged
    assert subscriber_of_envelope(address, settings) is None  # no BOUNCE_ADDRESS
