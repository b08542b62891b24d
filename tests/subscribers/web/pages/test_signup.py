"""The subscriber pages, through Flask's test client on both stores:
double opt-in, one-click unsubscribe, preferences, votes, and hostile input."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from subscribers.web.outbox import wait_for_mail
from support.messages import parse_message
from support.subscribers import add_confirmed
from worker.config import PROJECT_ROOT, Settings
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.domain.tokens import Purpose, make_token, subscriber_payload
from worker.ingest.importer import import_file
from worker.mail.memory import MemoryBackend
from worker.store.models import RateHit, Subscriber, Suppression, Vote

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[Flask]:
    import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
    MemoryBackend.reset()
    app = create_app(settings, sessions=sessions)
    app.config["TESTING"] = True
    yield app
    MemoryBackend.reset()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sent() -> list[EmailMessage]:
    """What the app mailed so far (it mails after answering)."""
    wait_for_mail()
    return [parse_message(outgoing.data) for outgoing in MemoryBackend.outbox]


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link(message: EmailMessage, path: str) -> str:
    found = re.search(rf"https://verdicts\.example(/{path}/[\w.-]+)", body(message))
    assert found, body(message)
    return found[1]


def subscriber(sessions: sessionmaker[Session], address: str) -> Subscriber | None:
    with sessions() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == address))


def token(settings: Settings, purpose: Purpose, subscriber_id: int) -> str:
    return make_token(settings, purpose, subscriber_payload(subscriber_id, settings.list_id))


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# Double opt-in ---------------------------------------------------------------


def test_subscribe_confirm_by_button_and_get_nothing_before(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert b"Developer Tools" in page.data  # categories come from the store

    answer = client.post(
        "/subscribe", data={"email": "New.Reader@Example.com", "category": "Developer Tools"}
    )
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    stored = subscriber(sessions, "new.reader@example.com")
    assert stored is not None and stored.status == SubscriberStatus.PENDING
    assert stored.categories == "Developer Tools"

    (message,) = sent()
    assert message["To"] == "new.reader@example.com"
    assert "Confirm" in message["Subject"]
    assert message["List-Unsubscribe"] is None  # not on the list yet
    confirm = link(message, "confirm")
    assert confirm in body(message, "html")
    assert "The link works for 7 days." in body(message, "html")

    # Opening the link (as a mail scanner would) confirms nothing.
    opened = client.get(confirm)
    assert opened.status_code == 200 and b'<form method="post">' in opened.data
    assert subscriber(sessions, "new.reader@example.com").status == SubscriberStatus.PENDING  # type: ignore[union-attr]

    done = client.post(confirm)
    assert done.status_code == 200 and b"You are subscribed" in done.data
    confirmed = subscriber(sessions, "new.reader@example.com")
    assert confirmed is not None and confirmed.status == SubscriberStatus.CONFIRMED
    assert confirmed.confirmed_at is not None
    # No edition has gone out yet: no welcome email.
    assert len(sent()) == 1


def test_the_answer_is_the_same_whoever_the_address_belongs_to(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    add_confirmed(sessions, "known@example.com", "Developer Tools")
    with sessions.begin() as session:
        session.add(Suppression(email="gone@example.com", reason=SuppressionReason.HARD_BOUNCE))
    answers = {
        address: client.post("/subscribe", data={"email": address}).data
        for address in ("fresh@example.com", "known@example.com", "gone@example.com")
    }
    again = client.post("/subscribe", data={"email": "fresh@example.com"}).data
    assert len({*answers.values(), again}) == 1

    # The confirmed subscriber is unchanged (a stranger cannot narrow or
    # widen their categories) and told so by mail; the suppressed address
    # gets nothing.
    known = subscriber(sessions, "known@example.com")
    assert known is not None and known.status == SubscriberStatus.CONFIRMED
    assert known.categories == "Developer Tools"
    recipients = [m["To"] for m in sent()]
    assert recipients.count("fresh@example.com") == 2
    assert recipients.count("known@example.com") == 1
    assert "gone@example.com" not in recipients
    already = next(m for m in sent() if m["To"] == "known@example.com")
    assert "already subscribed" in already["Subject"]
    preferences = client.get(link(already, "preferences"))
    assert preferences.status_code == 200 and b"known@example.com" in preferences.data


def test_honeypot_answers_as_usual_and_stores_nothing(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    answer = client.post(
        "/subscribe", data={"email": "bot@example.com", "website": "http://spam.example"}
    )
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    assert subscriber(sessions, "bot@example.com") is None
    assert sent() == [] and count(sessions, RateHit) == 0


def test_confirm_link_replayed_after_unsubscribing_changes_nothing(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    client.post("/subscribe", data={"email": "ada@example.com"})
    confirm = link(sent()[0], "confirm")
    assert client.post(confirm).status_code == 200
    stored = subscriber(sessions, "ada@example.com")
    assert stored is not None
    client.post(f"/u/{token(settings, Purpose.UNSUBSCRIBE, stored.id)}", data=ONE_CLICK)
    left = subscriber(sessions, "ada@example.com")
    assert left is not None and left.status == SubscriberStatus.UNSUBSCRIBED
    # Tokens count whole seconds: make the unsubscribe clearly later than
    # the link, as it is when someone leaves days after confirming.
    with sessions.begin() as session:
        session.get(Subscriber, stored.id).unsubscribed_at += dt.timedelta(seconds=2)  # type: ignore[union-attr, operator]

    replay = client.post(confirm)
    assert replay.status_code == 410
    assert subscriber(sessions, "ada@example.com").status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    assert len(sent()) == 1  # no welcome, no other mail


def test_a_new_subscriber_is_welcomed_with_the_latest_edition(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    from worker.deliver.editions import build_edition, start_edition
    from worker.domain.weeks import parse_week
    from worker.render.renderer import Renderer

    week = parse_week("2026-W48")
    build_edition(sessions, week, settings, Renderer(settings.templates_dir))
    start_edition(sessions, week, settings)
    client.post("/subscribe", data={"email": "late@example.com"})
    client.post(link(sent()[0], "confirm"))
    welcome = sent()[1]
    assert welcome["Subject"].startswith("Welcome!")
    assert "Claude Files API" in body(welcome, "html")
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "%%" not in body(welcome) and "%%" not in body(welcome, "html")

    # Clicking again (a reload, the back button) confirms nothing new and
    # mails nothing more; the welcome counts as the edition's delivery.
    confirm = link(sent()[0], "confirm")
    assert client.post(confirm).status_code == 200
    assert len(sent()) == 2
    late = subscriber(sessions, "late@example.com")
    assert late is not None
    with sessions() as session:
        from worker.store.models import Delivery

        statuses = session.scalars(
            select(Delivery.status).where(Delivery.subscriber_id == late.id)
        ).all()
    assert statuses == ["sent"]


def test_a_suppressed_subscriber_is_not_welcomed_by_a_second_click(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    from worker.deliver.editions import build_edition, start_edition
    from worker.domain.weeks import parse_week
    from worker.render.renderer import Renderer

    client.post("/subscribe", data={"email": "quiet@example.com"})
    confirm = link(sent()[0], "confirm")
    assert client.post(confirm).status_code == 200
    with sessions.begin() as session:
        session.add(Suppression(email="quiet@example.com", reason=SuppressionReason.MANUAL))
    week = parse_week("2026-W48")
    build_edition(sessions, week, settings, Renderer(settings.templates_dir))
    start_edition(sessions, week, settings)
    assert client.post(confirm).status_code == 410
    assert len(sent()) == 1


# Unsubscribe -----------------------------------------------------------------


def test_one_click_post_with_the_rfc_8058_body_unsubscribes_at_once(
    app: Flask, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "leaver@example.com")
    url = f"/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}"
    # A mail provider's POST: no cookie, exactly the body RFC 8058 gives.
    fresh = app.test_client(use_cookies=False)
    answer = fresh.post(
        url,
        data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    gone = subscriber(sessions, "leaver@example.com")
    assert gone is not None and gone.status == SubscriberStatus.UNSUBSCRIBED
    assert gone.unsubscribed_at is not None
    # Again: still 200, nothing more changes.
    assert fresh.post(url, data=ONE_CLICK).status_code == 200


def test_get_of_the_unsubscribe_link_unsubscribes_nobody(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "stays@example.com")
    url = f"/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}"
    for _ in range(3):
        page = client.get(url)
        assert page.status_code == 200 and b"Unsubscribe" in page.data
        assert client.head(url).status_code == 200
    assert subscriber(sessions, "stays@example.com").status == SubscriberStatus.CONFIRMED  # type: ignore[union-attr]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "bad",
    [
        "forged",
        "altered",
        "other-purpose",
        "other-list",
        "too-long",
    ],
)
def test_bad_unsubscribe_tokens_change_nothing_and_say_so(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session], bad: str
) -> None:
    subscriber_id = add_confirmed(sessions, "target@example.com")
    good = token(settings, Purpose.UNSUBSCRIBE, subscriber_id)
    value = {
        "forged": make_token(
            Settings(secret_key="attacker"), Purpose.UNSUBSCRIBE, [subscriber_id, "weekly"]
        ),
        "altered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "other-purpose": token(settings, Purpose.VOTE, subscriber_id),
        "other-list": make_token(settings, Purpose.UNSUBSCRIBE, [subscriber_id, "another"]),
        "too-long": "A" * 5000,
    }[bad]
    answer = client.post(f"/u/{value}", data=ONE_CLICK)
    assert answer.status_code == 400
    assert b"not valid" in answer.data and b"Nothing was changed" in answer.data
    assert subscriber(sessions, "target@example.com").status == SubscriberStatus.CONFIRMED  # type: ignore[union-attr]


# Preferences -----------------------------------------------------------------


def _csrf(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found[1].decode()


def test_preferences_change_categories_and_pause_with_csrf(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "picky@example.com")
    url = f"/preferences/{token(settings, Purpose.PREFERENCES, subscriber_id)}"
    page = client.get(url)
    assert page.status_code == 200 and b"picky@example.com" in page.data

    # Without the form's CSRF value (another site's form): refused, unchanged.
    refused = client.post(url, data={"category": "Developer Tools", "pause": "4"})
    assert refused.status_code == 400
    assert subscriber(sessions, "picky@example.com").categories == ""  # type: ignore[union-attr]

    saved = client.post(
        url,
        data={"csrf_token": _csrf(page.data), "category": "Developer Tools", "pause": "4"},
    )
    assert saved.status_code == 200 and b"Saved" in saved.data
    changed = subscriber(sessions, "picky@example.com")
    assert changed is not None and changed.categories == "Developer Tools"
    assert changed.paused_until is not None
    assert changed.paused_until - dt.datetime.now(dt.UTC) > dt.timedelta(days=27)

    # Keeping the pause while choosing everything again; then resuming.
    client.post(url, data={"csrf_token": _csrf(saved.data), "all": "1", "pause": "keep"})
    kept = subscriber(sessions, "picky@example.com")
    assert kept is not None and kept.categories == "" and kept.paused_until is not None
    client.post(url, data={"csrf_token": _csrf(saved.data), "all": "1", "pause": "0"})
    assert subscriber(sessions, "picky@example.com").paused_until is None  # type: ignore[union-attr]


def test_a_paused_subscriber_gets_no_delivery(
    settings: Settings, sessions: sessionmaker[Session], app: Flask
) -> None:
    from worker.deliver.editions import build_edition, start_edition
    from worker.domain.weeks import parse_week
    from worker.render.renderer import Renderer

    reader = add_confirmed(sessions, "reader@example.com")
    resting = add_confirmed(sessions, "resting@example.com")
    with sessions.begin() as session:
        session.get(Subscriber, resting).paused_until = dt.datetime.now(dt.UTC) + dt.timedelta(  # type: ignore[union-attr]
            weeks=2
        )
    week = parse_week("2026-W48")
    build_edition(sessions, week, settings, Renderer(settings.templates_dir))
    counts = start_edition(sessions, week, settings)
    assert counts.queued == 1
    from worker.store.models import Delivery

    with sessions() as session:
        assert list(session.scalars(select(Delivery.subscriber_id))) == [reader]


# Votes -----------------------------------------------------------------------


def test_vote_get_shows_the_verdict_table_and_post_records_one_vote(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    vote_token = token(settings, Purpose.VOTE, subscriber_id)
    url = f"/vote/{vote_token}/claude-files-api/ship"
    page = client.get(url)
    assert page.status_code == 200
    text = page.data.decode()
    assert "Claude Files API" in text and "100%" in text and "Paid" in text
    assert "(4 of 4)" in text and "Community</th><td>—" in text
    assert count(sessions, Vote) == 0  # a GET records nothing

    voted = client.post(url, data={"csrf_token": _csrf(page.data)})
    assert voted.status_code == 200 and b"your vote" in voted.data
    assert "Community</th><td>100%" in voted.data.decode()

    # A later vote replaces the earlier one.
    skip = f"/vote/{vote_token}/claude-files-api/skip"
    client.post(skip, data={"csrf_token": _csrf(client.get(skip).data)})
    with sessions() as session:
        votes = session.execute(select(Vote.subscriber_id, Vote.verdict)).all()
    assert votes == [(subscriber_id, "skip")]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/vote/{token}/claude-files-api/maybe", 404),
        ("/vote/{token}/no-such-tool/ship", 404),
        ("/vote/{other}/claude-files-api/ship", 400),
    ],
)
def test_bad_votes_record_nothing(
    client: FlaskClient,
    settings: Settings,
    sessions: sessionmaker[Session],
    path: str,
    status: int,
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    url = path.format(
        token=token(settings, Purpose.VOTE, subscriber_id),
        other=token(settings, Purpose.UNSUBSCRIBE, subscriber_id),
    )
    vote_token = token(settings, Purpose.VOTE, subscriber_id)
    page = client.get(f"/vote/{vote_token}/claude-files-api/ship")
    assert client.post(url, data={"csrf_token": _csrf(page.data)}).status_code == status
    assert count(sessions, Vote) == 0


# Hostile input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"email": "not an address"}, b"email"),
        ({"email": "x" * 10_000 + "@example.com"}, b"email"),
        ({"email": "ok@example.com", "name": "n" * 10_000}, b"name"),
        ({"email": "ok@example.com", "name": "<script>alert(1)</script>"}, b"name"),
        ({"email": "ok@example.com", "name": "Eve\r\nBcc: victim@example.com"}, b"name"),
        ({"email": "ok@example.com\r\nBcc: victim@example.com"}, b"email"),
        ({"email": "ok@example.com", "category": "<script>alert(1)</script>"}, b"categories"),
        ({"email": "ok@example.com", "category": "Developer Tools\r\nX: y"}, b"categories"),
        ({"email": "ok@example.com", "category": "c" * 10_000}, b"categories"),
        ({"email": "josé@example.com"}, b"email"),
    ],
)
def test_hostile_subscribe_input_gets_a_clear_error_and_stores_nothing(
    client: FlaskClient, sessions: sessionmaker[Session], form: dict[str, str], field: bytes
) -> None:
    answer = client.post("/subscribe", data=form)
    assert answer.status_code == 400
    assert field + b":" in answer.data
    assert b"<script>alert" not in answer.data  # shown escaped, if at all
    assert count(sessions, Subscriber) == 0 and count(sessions, RateHit) == 0
    assert sent() == []


def test_an_internationalised_domain_is_stored_in_ascii(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    assert client.post("/subscribe", data={"email": "ada@bücher.example"}).status_code == 200
    assert subscriber(sessions, "ada@xn--bcher-kva.example") is not None


def test_a_burst_of_a_thousand_requests_from_one_client(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    answers = [
        client.post("/subscribe", data={"email": f"burst{n}@example.com"}).status_code
        for n in range(1000)
    ]
    limit = settings.subscribe_limit_per_client
    assert answers[:limit] == [200] * limit
    assert answers[limit:] == [429] * (1000 - limit)
    assert count(sessions, Subscriber) == limit  # refused requests stored nothing
    assert len(sent()) == limit
    # Another client is not affected.
    other = client.post(
        "/subscribe", data={"email": "else@example.com"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert other.status_code == 200


def test_one_address_is_mailed_a_few_times_a_day_at_most(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    for n in range(6):
        answer = client.post(
            "/subscribe",
            data={"email": "bombed@example.com"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
        )
        assert answer.status_code == 200 and b"Check your inbox" in answer.data
    assert len(sent()) == settings.subscribe_limit_per_address


def test_pending_subscriptions_expire(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(
            Subscriber(
                email="stale@example.com",
                status=SubscriberStatus.PENDING,
                source="web",
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8),
            )
        )
        session.add(
            Subscriber(
                email="imported@example.com",
                status=SubscriberStatus.PENDING,
                source="import",
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
            )
        )
        session.add(
            Subscriber(
                email="left@example.com",
                status=SubscriberStatus.UNSUBSCRIBED,
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=80),
            )
        )
    client.post("/subscribe", data={"email": "fresh@example.com"})
    assert subscriber(sessions, "stale@example.com") is None
    # An unsubscribe is a record to keep, however old; so is an operator's
    # import of pending subscribers.
    assert subscriber(sessions, "left@example.com") is not None
    assert subscriber(sessions, "imported@example.com") is not None


def test_a_mail_server_that_is_down_changes_neither_the_answer_nor_the_store(
    settings: Settings, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    from support.smtpserver import free_port

    import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
    down = replace(settings, mail_url=f"smtp://127.0.0.1:{free_port()}?starttls=off")
    client = create_app(down, sessions=sessions).test_client()
    answer = client.post("/subscribe", data={"email": "patient@example.com"})
    # The same answer as ever (no enumeration through errors); the operator
    # finds the failure in the log.
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    wait_for_mail()
    assert "confirmation email not sent" in caplog.text
    pending = subscriber(sessions, "patient@example.com")
    assert pending is not None

    # A confirmation stands even when the welcome email cannot go out: an
    # edition went out, so confirming tries to mail it.
    from worker.deliver.editions import build_edition, start_edition
    from worker.domain.weeks import parse_week
    from worker.render.renderer import Renderer
    from worker.store.models import Delivery

    week = parse_week("2026-W48")
    build_edition(sessions, week, settings, Renderer(settings.templates_dir))
    start_edition(sessions, week, settings)
    assert "welcome email not sent" not in caplog.text
    confirm = make_token(down, Purpose.CONFIRM, [pending.id, pending.email])
    assert client.post(f"/confirm/{confirm}").status_code == 200
    wait_for_mail()
    assert "welcome email not sent" in caplog.text
    assert subscriber(sessions, "patient@example.com").status == SubscriberStatus.CONFIRMED  # type: ignore[union-attr]
    # Nor is the edition recorded as delivered to them.
    with sessions() as session:
        theirs = select(Delivery).where(Delivery.subscriber_id == pending.id)
        assert session.scalars(theirs).all() == []


def test_a_confirmation_the_mail_server_refuses_is_logged_once(
    settings: Settings, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    from support.smtpserver import Handler, smtp_server

    import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
    handler = Handler(replies={"nobody@example.com": "550 5.1.1 no such user"})
    with smtp_server(handler) as controller:
        refusing = replace(settings, mail_url=f"smtp://127.0.0.1:{controller.port}?starttls=off")
        client = create_app(refusing, sessions=sessions).test_client()
        answer = client.post("/subscribe", data={"email": "nobody@example.com"})
        wait_for_mail()
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    assert handler.envelopes == []
    [problem] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problem.getMessage().startswith("confirmation email not sent: permanent 550")
    assert "no such user" in problem.getMessage()


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    from dataclasses import replace

    import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
    proxied = replace(settings, trusted_proxies=1, subscribe_limit_per_client=2)
    client = create_app(proxied, sessions=sessions).test_client()

    def ask(n: int, client_address: str) -> int:
        return client.post(
            "/subscribe",
            data={"email": f"p{n}@example.com"},
            headers={"X-Forwarded-For": client_address},
        ).status_code

    assert [ask(n, "198.51.100.7") for n in range(3)] == [200, 200, 429]
    assert ask(3, "198.51.100.8") == 200


def test_a_vote_posted_without_the_forms_csrf_value_records_nothing(
    app: Flask, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    url = f"/vote/{token(settings, Purpose.VOTE, subscriber_id)}/claude-files-api/ship"
    other_site = app.test_client()
    assert other_site.post(url).status_code == 400
    page = app.test_client().get(url)
    # Another browser's value is not this one's.
    assert other_site.post(url, data={"csrf_token": _csrf(page.data)}).status_code == 400
    assert count(sessions, Vote) == 0


@pytest.mark.parametrize(
    "category", ["<script>alert(1)</script>", "Developer Tools\r\nX: y", "c" * 10_000, "Cooking"]
)
def test_preferences_refuse_what_is_not_a_category(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session], category: str
) -> None:
    subscriber_id = add_confirmed(sessions, "picky@example.com", "Design")
    url = f"/preferences/{token(settings, Purpose.PREFERENCES, subscriber_id)}"
    page = client.get(url)
    answer = client.post(
        url, data={"csrf_token": _csrf(page.data), "category": category, "pause": "8"}
    )
    assert answer.status_code == 400 and b"categories:" in answer.data
    assert b"<script>alert" not in answer.data
    unchanged = subscriber(sessions, "picky@example.com")
    assert unchanged is not None
    assert unchanged.categories == "Design" and unchanged.paused_until is None


def test_the_development_key_is_refused_for_a_public_site(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    from dataclasses import replace

    from worker.config import DEV_SECRET_KEY
    from worker.errors import ConfigError

    public = replace(settings, secret_key=DEV_SECRET_KEY, site_url="https://verdicts.example")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(public, sessions=sessions)
    local = replace(public, site_url="http://localhost:5000")
    assert create_app(local, sessions=sessions)

    # Kept as an old key after a rotation, it would still verify every link.
    rotated = replace(public, secret_key="a-long-random-key-" + "x" * 32)
    assert create_app(rotated, sessions=sessions)
    kept = replace(rotated, old_secret_keys=("an-older-real-key", DEV_SECRET_KEY))
    with pytest.raises(ConfigError, match=r"^OLD_SECRET_KEYS holds the development key"):
        create_app(kept, sessions=sessions)
    assert create_app(replace(kept, site_url="http://127.0.0.1:5000"), sessions=sessions)
    assert create_app(replace(kept, site_url="http://[::1]:5000"), sessions=sessions)


def test_one_click_survives_a_connection_the_database_dropped(
    settings: Settings, pg_sessions: sessionmaker[Session]
) -> None:
    from sqlalchemy import text

    engine = pg_sessions.kw["bind"]
    assert isinstance(engine, Engine)
    subscriber_id = add_confirmed(pg_sessions, "leaver@example.com")
    client = create_app(settings, sessions=pg_sessions).test_client()
    engine.dispose()
    with engine.connect() as connection:  # the one connection in the pool now
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
    behind = make_engine_for(engine)
    with behind.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
    behind.dispose()

    answer = client.post(
        f"/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}", data=ONE_CLICK
    )
    assert answer.status_code == 200
    assert subscriber(pg_sessions, "leaver@example.com").status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]


def make_engine_for(engine: Engine) -> Engine:
    """Another engine on the same database, for what a test does behind the
    app's back."""
    from worker.store import make_engine

    return make_engine(engine.url.render_as_string(hide_password=False))
