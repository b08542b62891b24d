"""``POST /webhooks/<service>``: SES through SNS, signed the way AWS signs,
with the certificate served by a real HTTP server on loopback; Postmark
behind basic auth."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.feedserver import FeedServer, Route, serve_feeds
from tests.support.intakehelpers import self_signed, state, status_of
from worker.config import Settings
from worker.domain.states import SubscriberStatus
from worker.store.models import Subscriber

TOPIC = "arn:aws:sns:eu-west-1:123456789012:verdict-digest-ses"
PEOPLE = ("ada@example.org", "grace@example.net", "linus@example.com")


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add_all(Subscriber(email=e, status=SubscriberStatus.CONFIRMED) for e in PEOPLE)


# SNS, as AWS does it


def signing_pair(
    valid_from: dt.timedelta = dt.timedelta(hours=-1),
    valid_until: dt.timedelta = dt.timedelta(days=30),
) -> tuple[Any, bytes]:
    """An RSA key and a self-signed certificate for it, in PEM."""
    key, certificate = self_signed(
        "sns.eu-west-1.amazonaws.com", valid_from=valid_from, valid_until=valid_until
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


@functools.cache
def the_signing_pair() -> tuple[Any, bytes]:
    """The pair most tests sign with, made once: RSA key generation is slow."""
    return signing_pair()


def canonical(message: dict[str, str]) -> bytes:
    """The string AWS signs, written out from its documentation rather than
    taken from the code under test."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()


def signed(message: dict[str, str], key: Any, cert_url: str, version: str = "1") -> dict[str, str]:
    message = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(canonical(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(signature).decode()}


def notification(ses: dict[str, Any], *, subject: str | None = None) -> dict[str, str]:
    message = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Message": json.dumps(ses),
        "Timestamp": "2026-11-24T09:01:08.123Z",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


MAIL = {
    "timestamp": "2026-11-24T09:00:00.000Z",
    "source": "digest@verdicts.example",
    "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/verdicts.example",
    "sendingAccountId": "123456789012",
    "messageId": "0102018c2f0a1b2c-5d6e7f80-aaaa-bbbb-cccc-0123456789ab-000000",
    "destination": ["ada@example.org"],
}


def bounce(kind: str, email: str, status: str = "5.1.1") -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": status,
                    "diagnosticCode": f"smtp; 550 {status} user unknown",
                }
            ],
            "timestamp": "2026-11-24T09:01:07.000Z",
            "feedbackId": "0102018c2f0a1b2c-aaaa-000000",
            "reportingMTA": "dsn; a8-55.smtp-out.amazonses.com",
        },
        "mail": MAIL,
    }


@dataclasses.dataclass
class SNS:
    client: FlaskClient
    server: FeedServer
    key: Any
    cert_url: str

    def post(self, message: dict[str, str]) -> Any:
        return self.client.post(
            "/webhooks/ses",
            data=json.dumps(message),
            content_type="text/plain; charset=UTF-8",
            headers={"x-amz-sns-message-type": message.get("Type", "")},
        )

    def send(self, message: dict[str, str], version: str = "1") -> Any:
        return self.post(signed(message, self.key, self.cert_url, version))

    def cert_requests(self) -> int:
        path = self.cert_url.removeprefix(self.server.base_url)
        return len(self.server.headers_of(path))


def sns_app(
    settings: Settings, sessions: sessionmaker[Session], server: FeedServer, **changes: Any
) -> FlaskClient:
    """The app, taking certificates from ``server`` and messages of TOPIC
    unless ``changes`` say otherwise."""
    pattern = rf"^{re.escape(server.base_url)}/sns/"
    changes = {"sns_cert_url_pattern": pattern, "sns_topic_arns": (TOPIC,), **changes}
    return create_app(dataclasses.replace(settings, **changes), sessions=sessions).test_client()


@pytest.fixture(scope="module")
def cert_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedServer]:
    """A real HTTP server on loopback, in the role of sns.<region>.amazonaws.com."""
    with serve_feeds(tmp_path_factory.mktemp("sns")) as server:
        yield server


def serve_certificate(server: FeedServer, pem: bytes) -> str:
    """The URL ``server`` serves ``pem`` at: a path of its own each time,
    since certificates are cached by URL per process."""
    path = f"/sns/SimpleNotificationService-{uuid.uuid4().hex}.pem"
    server.routes[path] = Route(body=pem, content_type="application/x-pem-file")
    return server.url(path)


@pytest.fixture
def sns(
    settings: Settings, sessions: sessionmaker[Session], cert_server: FeedServer, people: None
) -> SNS:
    key, pem = the_signing_pair()
    cert_url = serve_certificate(cert_server, pem)
    return SNS(sns_app(settings, sessions, cert_server), cert_server, key, cert_url)


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_genuine_ses_bounce_applies_once(
    sns: SNS, sessions: sessionmaker[Session], version: str
) -> None:
    message = notification(bounce("Permanent", "ada@example.org"), subject="Amazon SES Bounce")
    answer = sns.send(message, version)
    assert answer.status_code == 200, answer.json
    assert answer.json == {"applied": {"hard_bounce": 1}, "already_seen": 0}
    assert status_of(sessions, "ada@example.org") == ("bounced", 0, "hard_bounce")
    before = state(sessions)
    resent = sns.send(message, version)
    assert resent.status_code == 200 and resent.json == {"applied": {}, "already_seen": 1}
    assert state(sessions) == before
    assert sns.cert_requests() == 1  # fetched once, then cached


def test_a_bad_signature_is_refused_and_changes_nothing(
    sns: SNS, sessions: sessionmaker[Session]
) -> None:
    before = state(sessions)
    stranger, _ = signing_pair()
    message = notification(bounce("Permanent", "ada@example.org"))
    answer = sns.post(signed(message, stranger, sns.cert_url))
    assert answer.status_code == 403
    assert answer.json == {"error": "the signature does not match the message"}
    garbled = {**signed(message, sns.key, sns.cert_url), "Signature": "not base64!"}
    assert sns.post(garbled).status_code == 403
    assert state(sessions) == before


def test_an_altered_message_is_refused_and_changes_nothing(
    sns: SNS, sessions: sessionmaker[Session]
) -> None:
    before = state(sessions)
    genuine = signed(notification(bounce("Transient", "ada@example.org")), sns.key, sns.cert_url)
    for name, value in (
        ("Message", json.dumps(bounce("Permanent", "ada@example.org"))),
        ("MessageId", str(uuid.uuid4())),
        ("TopicArn", TOPIC + "-other"),
        ("Subject", "added after signing"),
    ):
        answer = sns.post({**genuine, name: value})
        assert answer.status_code == 403, name
    assert state(sessions) == before


def test_a_certificate_outside_the_pattern_is_never_fetched(
    sns: SNS, sessions: sessionmaker[Session]
) -> None:
    before = state(sessions)
    path = f"/elsewhere/{uuid.uuid4().hex}.pem"
    sns.server.routes[path] = Route(body=the_signing_pair()[1])
    message = notification(bounce("Permanent", "ada@example.org"))
    answer = sns.post(signed(message, sns.key, sns.server.url(path)))
    assert answer.status_code == 403
    assert answer.json == {"error": "SigningCertURL is not an accepted certificate location"}
    assert sns.server.headers_of(path) == []
    assert state(sessions) == before


def test_the_default_pattern_accepts_only_amazon_hosts(
    settings: Settings, sessions: sessionmaker[Session], sns: SNS
) -> None:
    configured = dataclasses.replace(settings, sns_topic_arns=(TOPIC,))
    client = create_app(configured, sessions=sessions).test_client()
    message = signed(notification(bounce("Permanent", "ada@example.org")), sns.key, sns.cert_url)
    assert client.post("/webhooks/ses", data=json.dumps(message)).status_code == 403
    assert sns.cert_requests() == 0
    pattern = re.compile(settings.sns_cert_url_pattern)
    assert pattern.match("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem")
    assert pattern.match("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService.pem")
    for url in (
        "http://sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/x.pem",
    ):
        assert not pattern.match(url), url


def test_malformed_and_unknown_messages_are_refused(
    sns: SNS, sessions: sessionmaker[Session]
) -> None:
    before = state(sessions)
    assert sns.client.post("/webhooks/ses", data=b"{not json").status_code == 400
    assert sns.client.post("/webhooks/ses", data=b"[1, 2]").status_code == 400
    unknown = {**notification(bounce("Permanent", "ada@example.org")), "Type": "Surprise"}
    answer = sns.send(unknown)
    assert answer.status_code == 400 and "unknown SNS message type" in answer.json["error"]
    not_ses = notification({"hello": "world"})
    not_ses["Message"] = "plain text"
    assert sns.send(not_ses).status_code == 400
    assert state(sessions) == before


def test_nothing_is_accepted_until_the_topics_are_configured(
    settings: Settings, sessions: sessionmaker[Session], sns: SNS
) -> None:
    before = state(sessions)
    client = sns_app(settings, sessions, sns.server, sns_topic_arns=())
    message = signed(notification(bounce("Permanent", "ada@example.org")), sns.key, sns.cert_url)
    answer = client.post("/webhooks/ses", data=json.dumps(message))
    assert answer.status_code == 503 and "set SNS_TOPIC_ARNS" in answer.json["error"]
    assert state(sessions) == before
    assert sns.cert_requests() == 0


def test_a_genuine_message_of_another_topic_is_refused(
    settings: Settings, sessions: sessionmaker[Session], sns: SNS
) -> None:
    # Anyone can make a topic and publish an SES-shaped complaint to it:
    # AWS signs it all the same.
    before = state(sessions)
    stranger = notification(bounce("Permanent", "ada@example.org"))
    stranger["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:attacker"
    answer = sns.send(stranger)
    assert answer.status_code == 403
    assert answer.json == {"error": "the topic is not one of SNS_TOPIC_ARNS"}
    assert state(sessions) == before
    assert sns.cert_requests() == 0
    other_list = sns_app(settings, sessions, sns.server, sns_topic_arns=(TOPIC + "-other",))
    ours = signed(notification(bounce("Permanent", "ada@example.org")), sns.key, sns.cert_url)
    assert other_list.post("/webhooks/ses", data=json.dumps(ours)).status_code == 403
    assert state(sessions) == before


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [
        (dt.timedelta(days=-30), dt.timedelta(minutes=-1)),  # expired
        (dt.timedelta(minutes=1), dt.timedelta(days=30)),  # not valid yet
    ],
    ids=["expired", "not-yet-valid"],
)
def test_a_certificate_not_valid_now_verifies_nothing(
    sns: SNS, sessions: sessionmaker[Session], valid_from: dt.timedelta, valid_until: dt.timedelta
) -> None:
    before = state(sessions)
    key, pem = signing_pair(valid_from, valid_until)
    cert_url = serve_certificate(sns.server, pem)
    message = notification(bounce("Permanent", "ada@example.org"))
    answer = sns.post(signed(message, key, cert_url))
    assert answer.status_code == 403
    assert answer.json == {"error": "the signing certificate is not valid now"}
    assert state(sessions) == before


def test_complaints_soft_bounces_and_deliveries(sns: SNS, sessions: sessionmaker[Session]) -> None:
    complaint = {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "Linus <linus@example.com>"}],
            "timestamp": "2026-11-25T14:22:31.000Z",
            "feedbackId": "0102018c-complaint",
            "complaintFeedbackType": "abuse",
        },
        "mail": MAIL,
    }
    assert sns.send(notification(complaint)).json["applied"] == {"complaint": 1}
    assert status_of(sessions, "linus@example.com") == ("unsubscribed", 0, "complaint")
    for n, kind in enumerate(("Transient", "Undetermined")):
        soft = bounce(kind, "grace@example.net", "4.2.2")
        soft["mail"] = {**MAIL, "messageId": f"0102018c-week-{n}"}
        assert sns.send(notification(soft)).json["applied"] == {"soft_bounce": 1}
        # SES reporting the same message again: one soft bounce per message.
        assert sns.send(notification(soft)).json == {"applied": {}, "already_seen": 1}
    assert status_of(sessions, "grace@example.net") == ("confirmed", 2, None)
    delivery = {
        "notificationType": "Delivery",
        "delivery": {
            "timestamp": "2026-12-01T09:00:02.000Z",
            "recipients": ["grace@example.net"],
            "smtpResponse": "250 2.0.0 OK",
            "reportingMTA": "a8-55.smtp-out.amazonses.com",
        },
        "mail": MAIL,
    }
    assert sns.send(notification(delivery)).json["applied"] == {"delivered": 1}
    assert status_of(sessions, "grace@example.net") == ("confirmed", 0, None)
    opened = {"eventType": "Open", "open": {"timestamp": "2026-12-01T10:00:00Z"}, "mail": MAIL}
    assert sns.send(notification(opened)).json == {"applied": {}, "already_seen": 0}


def subscription_confirmation(url: str) -> dict[str, str]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de12884a0f5a2f6c9a9",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": url,
        "Timestamp": "2026-11-20T12:00:00.000Z",
    }


def test_a_subscription_confirmation_is_logged_and_not_visited(
    sns: SNS, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"/sns/?Action=ConfirmSubscription&Token={uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING, logger="subscribers.webhooks"):
        answer = sns.send(subscription_confirmation(sns.server.url(path)))
    assert answer.status_code == 200
    assert sns.server.url(path) in caplog.text and "SNS_CONFIRM_SUBSCRIPTIONS" in caplog.text
    assert sns.server.headers_of(path) == []


def test_a_subscription_is_confirmed_when_the_setting_allows(
    settings: Settings, sessions: sessionmaker[Session], sns: SNS
) -> None:
    client = sns_app(settings, sessions, sns.server, sns_confirm_subscriptions=True)
    path = f"/sns/?Action=ConfirmSubscription&Token={uuid.uuid4().hex}"
    sns.server.routes[path] = Route(body=b"<ConfirmSubscriptionResponse/>")
    message = signed(subscription_confirmation(sns.server.url(path)), sns.key, sns.cert_url)
    answer = client.post("/webhooks/ses", data=json.dumps(message))
    assert answer.status_code == 200 and answer.json == {"result": "subscription confirmed"}
    assert len(sns.server.headers_of(path)) == 1


@pytest.mark.parametrize("case", ["no topic configured", "another topic", "bad signature"])
def test_a_stranger_s_subscription_confirmation_is_neither_confirmed_nor_logged(
    settings: Settings,
    sessions: sessionmaker[Session],
    sns: SNS,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    topics = () if case == "no topic configured" else (TOPIC,)
    client = sns_app(
        settings, sessions, sns.server, sns_confirm_subscriptions=True, sns_topic_arns=topics
    )
    path = f"/sns/?Action=ConfirmSubscription&Token={uuid.uuid4().hex}"
    sns.server.routes[path] = Route(body=b"<ConfirmSubscriptionResponse/>")
    confirmation = subscription_confirmation(sns.server.url(path))
    message = signed(confirmation, sns.key, sns.cert_url)
    if case == "another topic":
        confirmation["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:attacker"
        message = signed(confirmation, sns.key, sns.cert_url)
    elif case == "bad signature":
        message = signed(confirmation, signing_pair()[0], sns.cert_url)
    with caplog.at_level(logging.WARNING, logger="subscribers.webhooks"):
        answer = client.post("/webhooks/ses", data=json.dumps(message))
    status = 503 if case == "no topic configured" else 403
    assert answer.status_code == status
    assert sns.server.headers_of(path) == []
    assert path not in caplog.text and f"refused ({status})" in caplog.text


# Postmark


@pytest.fixture
def postmark(settings: Settings, sessions: sessionmaker[Session], people: None) -> FlaskClient:
    configured = dataclasses.replace(
        settings, postmark_webhook_user="postmark", postmark_webhook_password="hook-secret"
    )
    return create_app(configured, sessions=sessions).test_client()


AUTH = ("postmark", "hook-secret")


def postmark_bounce(record_id: int, kind: str, email: str) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": record_id,
        "Type": kind,
        "TypeCode": 1 if kind == "HardBounce" else 4096,
        "Name": "Hard bounce" if kind == "HardBounce" else "Soft bounce",
        "Tag": "digest",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "digest@verdicts.example",
        "BouncedAt": "2026-11-24T09:01:07.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Claude Files API vs Claude Haiku Open Weights",
    }


def test_postmark_refuses_until_configured(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    client = create_app(settings, sessions=sessions).test_client()
    answer = client.post("/webhooks/postmark", json=postmark_bounce(1, "HardBounce", "a@b.c"))
    assert answer.status_code == 503
    assert "POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD" in answer.json["error"]


def test_postmark_needs_its_credentials(
    postmark: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    before = state(sessions)
    payload = postmark_bounce(1, "HardBounce", "ada@example.org")
    for auth in (None, ("postmark", "wrong"), ("someone", "hook-secret"), ("postmark", "")):
        answer = postmark.post("/webhooks/postmark", json=payload, auth=auth)
        assert answer.status_code == 401, auth
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="webhooks"'
    bearer = postmark.post(
        "/webhooks/postmark", json=payload, headers={"Authorization": "Bearer hook-secret"}
    )
    assert bearer.status_code == 401
    assert state(sessions) == before


def test_postmark_record_types(postmark: FlaskClient, sessions: sessionmaker[Session]) -> None:
    def post(payload: dict[str, Any]) -> dict[str, Any]:
        answer = postmark.post("/webhooks/postmark", json=payload, auth=AUTH)
        assert answer.status_code == 200, answer.json
        return dict(answer.json)

    hard = postmark_bounce(4323372036854775807, "HardBounce", "ada@example.org")
    assert post(hard)["applied"] == {"hard_bounce": 1}
    assert status_of(sessions, "ada@example.org") == ("bounced", 0, "hard_bounce")
    assert post(hard) == {"applied": {}, "already_seen": 1}

    assert post(postmark_bounce(11, "SoftBounce", "grace@example.net"))["applied"] == {
        "soft_bounce": 1
    }
    # Another record about the same message: one soft bounce per message.
    again = post(postmark_bounce(12, "SoftBounce", "grace@example.net"))
    assert again == {"applied": {}, "already_seen": 1}
    assert status_of(sessions, "grace@example.net") == ("confirmed", 1, None)
    delivery = {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "MessageID": "00000000-0000-0000-0000-000000000001",
        "Recipient": "grace@example.net",
        "Tag": "digest",
        "DeliveredAt": "2026-12-01T09:00:02.9070259Z",
        "Details": "Test delivery webhook details",
    }
    assert post(delivery)["applied"] == {"delivered": 1}
    assert status_of(sessions, "grace@example.net") == ("confirmed", 0, None)

    complaint = {
        **postmark_bounce(42, "SpamComplaint", "linus@example.com"),
        "RecordType": "SpamComplaint",
        "TypeCode": 100001,
    }
    assert post(complaint)["applied"] == {"complaint": 1}
    assert status_of(sessions, "linus@example.com") == ("unsubscribed", 0, "complaint")

    change = {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": "2026-11-26T10:53:34.416071Z",
        "Recipient": "grace@example.net",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "digest",
    }
    assert post(change)["applied"] == {"unsubscribe": 1}
    assert status_of(sessions, "grace@example.net") == ("unsubscribed", 0, None)
    reactivated = {**change, "SuppressSending": False, "ChangedAt": "2026-11-27T08:00:00Z"}
    assert post(reactivated)["applied"] == {"other": 1}
    assert status_of(sessions, "grace@example.net") == ("unsubscribed", 0, None)
    opened = {"RecordType": "Open", "MessageID": "x", "Recipient": "grace@example.net"}
    assert post(opened) == {"applied": {}, "already_seen": 0}


def test_postmark_payloads_missing_fields_are_refused(
    postmark: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    before = state(sessions)
    missing = {**postmark_bounce(5, "HardBounce", "ada@example.org"), "Email": ""}
    answer = postmark.post("/webhooks/postmark", json=missing, auth=AUTH)
    assert answer.status_code == 400 and answer.json == {"error": "the Bounce record has no Email"}
    assert postmark.post("/webhooks/postmark", data=b"nope", auth=AUTH).status_code == 400
    assert state(sessions) == before


# Malformed bodies: each a 400 with one warning, never a traceback


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


MALFORMED = {
    "nested far too deep": b"[" * 100_000,
    "nested just past the budget": b'{"a": ' + deep(32) + b"}",
    "nested just under the interpreter's limit": b'{"a": ' + deep(900) + b"}",
    "not JSON": b"{not json",
    "not UTF-8": b'{"Type": "Notification\xff"}',
    "NaN": b'{"Type": NaN}',
    "Infinity": b'{"ID": -Infinity}',
    "a number too large for a float": b'{"ID": 1e999}',
    "an integer of 5,000 digits": b'{"ID": ' + b"9" * 5000 + b"}",
    "a lone surrogate": b'{"Type": "\\ud800"}',
    "a NUL character": b'{"Type": "Notific\\u0000ation"}',
    "an array, not an object": b"[1, 2]",
    "a string, not an object": b'"Notification"',
    "empty": b"",
}


def one_refusal(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    """The one record a refused request logged; it carries no traceback."""
    assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
    record = caplog.records[0]
    assert record.levelno == logging.WARNING and "refused (400)" in record.getMessage()
    assert record.exc_info is None and record.exc_text is None
    return record


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_body_is_a_400_with_one_log_line(
    sns: SNS,
    postmark: FlaskClient,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    body = MALFORMED[case]
    before = state(sessions)
    for service, client, auth in (("ses", sns.client, None), ("postmark", postmark, AUTH)):
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            answer = client.post(f"/webhooks/{service}", data=body, auth=auth)
        assert answer.status_code == 400, (service, answer.data[:200])
        assert answer.json["error"] in one_refusal(caplog).getMessage()
    assert state(sessions) == before


def test_a_malformed_ses_message_inside_a_genuine_notification_is_a_400(
    sns: SNS, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    before = state(sessions)
    for inner in ('{"bounce": ' + deep(900).decode() + "}", '{"notificationType": NaN}'):
        message = notification({})
        message["Message"] = inner
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            answer = sns.send(message)
        assert answer.status_code == 400
        assert "the SNS Message" in one_refusal(caplog).getMessage()
    assert state(sessions) == before


def test_unknown_services_are_not_found(postmark: FlaskClient) -> None:
    assert postmark.post("/webhooks/mailgun", json={}).status_code == 404
    assert postmark.get("/webhooks/postmark").status_code == 405
