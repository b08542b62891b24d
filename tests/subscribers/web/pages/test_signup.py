"""Double opt-in (subscribers/web/pages/signup.py), through Flask's test client on
both stores: the subscribe form and its hostile input, the confirmation
link it mails, the welcome, and the limits on requests and mail."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import logging
import math
import re
import time
from dataclasses import replace
from email.message import EmailMessage

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from subscribers.web.outbox import wait_for_mail
from tests.support.editions import start_week
from tests.support.pages import ONE_CLICK, body, count, link, sent, subscriber, token
from tests.support.sample import load_content
from tests.support.smtpserver import Handler, free_port, smtp_server
from tests.support.subscribers import add_confirmed
from worker.config import Settings
from worker.domain.segments import segment_categories
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.domain.tokens import Purpose, make_token, read_subscriber_token
from worker.editor.lint.htmlscan import scan_html
from worker.editor.lint.rules import Finding, Level, lint_message
from worker.editor.welcome import store_welcome
from worker.mail.memory import MemoryBackend
from worker.store.models import Delivery, RateHit, Subscriber, Suppression, Tool


def subscribe_and_confirm(client: FlaskClient, address: str) -> str:
    """Subscribe ``address`` and confirm it by the first mail's link: the link."""
    client.post("/subscribe", data={"email": address})
    confirm = link(sent()[0], "confirm")
    assert client.post(confirm).status_code == 200
    return confirm


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
    # No edition has gone out yet: the welcome is the welcome copy alone.
    assert b"A welcome email is on its way" in done.data
    welcome = sent()[1]
    assert welcome["To"] == "new.reader@example.com"
    assert "Thanks for confirming" in body(welcome) and "Claude" not in body(welcome)


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


@pytest.mark.parametrize("state", [SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED])
def test_a_subscribe_request_changes_no_stored_name_or_categories(
    client: FlaskClient, sessions: sessionmaker[Session], state: SubscriberStatus
) -> None:
    # Anyone can send the form for any address: a stranger must not rename
    # the owner, nor choose what they get once they confirm.
    with sessions.begin() as session:
        session.add(
            Subscriber(email="owner@example.com", name="Ada", categories="Design", status=state)
        )
    fresh = client.post("/subscribe", data={"email": "fresh@example.com"}).data
    stranger = client.post(
        "/subscribe",
        data={"email": "owner@example.com", "name": "Not Ada", "category": "Developer Tools"},
    )
    assert stranger.status_code == 200 and stranger.data == fresh  # no enumeration
    stored = subscriber(sessions, "owner@example.com")
    assert stored is not None and stored.status == state
    assert (stored.name, stored.categories) == ("Ada", "Design")
    # The owner gets the confirmation again, addressed as before.
    (confirmation,) = [m for m in sent() if "owner@example.com" in m["To"]]
    assert "Confirm" in confirmation["Subject"] and "Not Ada" not in str(confirmation["To"])
    assert client.post(link(confirmation, "confirm")).status_code == 200
    confirmed = subscriber(sessions, "owner@example.com")
    assert confirmed is not None and confirmed.status == SubscriberStatus.CONFIRMED
    assert (confirmed.name, confirmed.categories) == ("Ada", "Design")


def test_only_categories_a_choice_can_hold_are_offered(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    # Feeds name categories freely; a choice is the names joined by "|".
    odd = ["Design|Research", " Padded ", "Tab\tbed", "<b>Bold</b>"]
    with sessions.begin() as session:
        session.add_all(
            Tool(slug=f"odd-{n}", name=f"Odd {n}", category=category)
            for n, category in enumerate(odd)
        )
    page = client.get("/")
    offered = re.findall(r'name="category" value="([^"]*)"', page.data.decode())
    assert "Developer Tools" in offered
    assert not {html.escape(c) for c in odd} & set(offered)
    # Ticking everything offered is a valid choice (it was a 400 with "|").
    answer = client.post(
        "/subscribe",
        data={"email": "all@example.com", "category": [html.unescape(c) for c in offered]},
    )
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    stored = subscriber(sessions, "all@example.com")
    assert stored is not None
    assert segment_categories(stored.categories) == tuple(sorted(map(html.unescape, offered)))
    # One that is not offered is refused by name, as any unknown category.
    forged = client.post(
        "/subscribe", data={"email": "odd@example.com", "category": "Design|Research"}
    )
    assert forged.status_code == 400 and b"is not one of our categories" in forged.data


def test_the_form_takes_the_browsers_time_zone_with_the_one_script_its_policy_allows(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    page = client.get("/")
    assert b'<input type="hidden" id="timezone" name="timezone" value="">' in page.data
    found = re.search(rb"<script>(.*?)</script>", page.data, re.S)
    assert found is not None and b"resolvedOptions().timeZone" in found[1]
    digest = base64.b64encode(hashlib.sha256(found[1]).digest()).decode()
    policy = page.headers["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert page.data.count(b"<script") == 1

    answer = client.post(
        "/subscribe", data={"email": "sg@example.com", "timezone": "Asia/Singapore"}
    )
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    assert subscriber(sessions, "sg@example.com").timezone == "Asia/Singapore"  # type: ignore[union-attr]
    # Without JavaScript the field is empty: the list's zone.
    client.post("/subscribe", data={"email": "nojs@example.com", "timezone": ""})
    assert subscriber(sessions, "nojs@example.com").timezone is None  # type: ignore[union-attr]

    # A form refused for another field keeps the script and its policy.
    refused = client.post("/subscribe", data={"email": "nope", "timezone": "Asia/Singapore"})
    assert refused.status_code == 400 and b"email:" in refused.data
    assert refused.headers["Content-Security-Policy"] == policy
    assert b'name="timezone" value="Asia/Singapore"' in refused.data


@pytest.mark.parametrize("zone", ["Etc/Unknown", "Mars/Olympus", "localtime", "<script>"])
def test_a_zone_the_browser_made_up_is_dropped_not_refused(
    client: FlaskClient, sessions: sessionmaker[Session], zone: str
) -> None:
    # The reader never saw the field and could not correct it.
    answer = client.post("/subscribe", data={"email": "odd@example.com", "timezone": zone})
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    stored = subscriber(sessions, "odd@example.com")
    assert stored is not None and stored.timezone is None


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
    confirm = subscribe_and_confirm(client, "ada@example.com")
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
    assert len(sent()) == 2  # the first click's welcome; no other mail


def test_a_new_subscriber_is_welcomed_with_the_latest_edition(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    start_week(sessions, settings)
    client.post("/subscribe", data={"email": "late@example.com"})
    done = client.post(link(sent()[0], "confirm"))
    assert b"A welcome email with the latest edition is on its way" in done.data
    welcome = sent()[1]
    # The default welcome copy, above the edition, in both parts.
    assert welcome["Subject"] == "Welcome to Weekly AI Tool Verdicts"
    for kind in ("html", "plain"):
        shown = visible(body(welcome, kind))
        assert shown.index("Thanks for confirming") < shown.index("Claude Files API"), kind
    assert preheader(welcome) == "What every edition brings, and how to vote Ship or Skip."
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "%%" not in body(welcome) and "%%" not in body(welcome, "html")
    assert lint_errors(settings) == []
    late = subscriber(sessions, "late@example.com")
    assert late is not None
    assert_their_links_work(client, settings, welcome, late.id)

    # Clicking again (a reload, the back button) confirms nothing new and
    # mails nothing more; the welcome counts as the edition's delivery.
    confirm = link(sent()[0], "confirm")
    assert client.post(confirm).status_code == 200
    assert len(sent()) == 2
    late = subscriber(sessions, "late@example.com")
    assert late is not None
    with sessions() as session:
        statuses = session.scalars(
            select(Delivery.status).where(Delivery.subscriber_id == late.id)
        ).all()
    assert statuses == ["sent"]


def test_a_stored_welcome_copy_replaces_the_default(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        store_welcome(session, settings, STORED_COPY, "ada")
    start_week(sessions, settings)
    client.post("/subscribe", data={"email": "late@example.com"})
    client.post(link(sent()[0], "confirm"))
    welcome = sent()[1]
    assert welcome["Subject"] == "Hello from the panel"
    assert preheader(welcome) == "Four seats, one verdict, every week."
    html, text = visible(body(welcome, "html")), body(welcome)
    assert html.index("Glad you're here.") < html.index("Claude Files API")
    assert text.index("Glad you're here.") < text.index("Claude Files API")
    assert '<a href="https://verdicts.example/method"' in body(welcome, "html")
    assert "[1] https://verdicts.example/method" in text
    assert "Thanks for confirming" not in html + text
    late = subscriber(sessions, "late@example.com")
    assert late is not None
    assert_their_links_work(client, settings, welcome, late.id)


def test_before_the_first_edition_the_welcome_is_the_copy_with_the_lists_links(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        store_welcome(session, settings, STORED_COPY, "ada")
    client.post("/subscribe", data={"email": "early@example.com", "name": "Early Bird"})
    client.post(link(sent()[0], "confirm"))
    welcome = sent()[1]
    assert welcome["Subject"] == "Hello from the panel"
    assert welcome["To"] == "Early Bird <early@example.com>"
    assert "Glad you're here." in visible(body(welcome, "html"))
    assert "latest edition" not in body(welcome) + body(welcome, "html")
    # The reader is on the list: the list's headers, and their own links.
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "%%" not in body(welcome) + body(welcome, "html")
    assert lint_errors(settings) == []
    early = subscriber(sessions, "early@example.com")
    assert early is not None
    unsubscribe = re.search(r"<https://verdicts\.example(/u/[\w.-]+)>", welcome["List-Unsubscribe"])
    assert unsubscribe and unsubscribe[1] in body(welcome, "html")
    assert_their_links_work(client, settings, welcome, early.id, votes=False)
    with sessions() as session:  # no edition, so no delivery to record
        assert session.scalars(select(Delivery)).all() == []


STORED_COPY = """---
subject: "Hello from the panel"
preheader: "Four seats, one verdict, every week."
---
**Glad you're here.** Read [how the panel works](https://verdicts.example/method).
"""


def visible(part: str) -> str:
    """A part's words, tags left out."""
    return " ".join(re.sub(r"(?s)<(style|title|head)\b.*?</\1>|<[^>]+>", " ", part).split())


def preheader(message: EmailMessage) -> str | None:
    return scan_html(body(message, "html")).preheader


def lint_errors(settings: Settings) -> list[Finding]:
    """The digest lint's errors of the last message the app sent."""
    sent()
    findings = lint_message(MemoryBackend.outbox[-1].data, settings)
    return [finding for finding in findings if finding.level is Level.ERROR]


def assert_their_links_work(
    client: FlaskClient,
    settings: Settings,
    message: EmailMessage,
    subscriber_id: int,
    *,
    votes: bool = True,
) -> None:
    """Every per-recipient link of ``message``'s HTML names
    ``subscriber_id`` and opens its page."""
    html = body(message, "html")
    paths = re.findall(r'href="https://verdicts\.example/(u|preferences|vote)/([^"/]+)[^"]*"', html)
    assert {kind for kind, _ in paths} == (
        {"u", "preferences", "vote"} if votes else {"u", "preferences"}
    )
    purposes = {"u": Purpose.UNSUBSCRIBE, "preferences": Purpose.PREFERENCES, "vote": Purpose.VOTE}
    for kind, token_ in paths:
        assert read_subscriber_token(settings, purposes[kind], token_)[0] == subscriber_id
    for match in re.finditer(
        r'href="https://verdicts\.example(/(?:u|preferences|vote)/[^"]+)"', html
    ):
        assert client.get(match[1]).status_code == 200, match[1]


def test_a_suppressed_subscriber_is_not_welcomed_by_a_second_click(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    confirm = subscribe_and_confirm(client, "quiet@example.com")
    with sessions.begin() as session:
        session.add(Suppression(email="quiet@example.com", reason=SuppressionReason.MANUAL))
    start_week(sessions, settings)
    assert client.post(confirm).status_code == 410
    assert len(sent()) == 2  # the confirmation and the first click's welcome


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
        ({"email": "ok@example.com", "timezone": "Europe/" + "x" * 10_000}, b"timezone"),
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
    started = time.monotonic()
    answers = [
        client.post("/subscribe", data={"email": f"burst{n}@example.com"}).status_code
        for n in range(1000)
    ]
    limit = settings.subscribe_limit_per_client
    assert answers[:limit] == [200] * limit
    assert answers[limit:] == [429] * (1000 - limit)
    # When to try again: once the first of them is an hour old.
    again = client.post("/subscribe", data={"email": "later@example.com"})
    since = math.ceil(time.monotonic() - started)
    assert 3600 - since <= int(again.headers["Retry-After"]) <= 3600
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
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as session:
        for address, status, source, days in (
            ("stale@example.com", SubscriberStatus.PENDING, "web", 8),
            ("imported@example.com", SubscriberStatus.PENDING, "import", 30),
            ("left@example.com", SubscriberStatus.UNSUBSCRIBED, None, 80),
        ):
            created_at = now - dt.timedelta(days=days)
            session.add(
                Subscriber(email=address, status=status, source=source, created_at=created_at)
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
    load_content(sessions)
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

    # A confirmation stands even when the welcome email cannot go out.
    start_week(sessions, settings)
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
    load_content(sessions)
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
    load_content(sessions)
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
