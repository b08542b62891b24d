"""The public archive on the web: past editions as pages and as an Atom
feed, built and sent by the real pipeline, with no per-recipient link left
in them."""

from __future__ import annotations

import datetime as dt
import html
import http.client
import re
import xml.etree.ElementTree as ET

import feedparser
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.archive import ArchiveEntry
from subscribers.web import create_app
from subscribers.web.archive import LAUNCHES_PER_PAGE, atom_feed
from tests.support.editions import send_sample_week
from tests.support.launches import STEADY, flood_week
from tests.support.webapp import serving
from worker.config import Settings
from worker.domain.segments import EVERYONE
from worker.domain.states import EditionStatus
from worker.store.models import Edition, EditionSegment

SITE = "https://verdicts.example"
SUBSCRIBE = f"{SITE}/"
ATOM = "{http://www.w3.org/2005/Atom}"
# Any link a recipient's own token would be in.
PER_RECIPIENT = re.compile(rf"{re.escape(SITE)}/(?:vote|u|preferences|confirm)/")


def add_edition(
    sessions: sessionmaker[Session],
    week: str,
    status: EditionStatus,
    *,
    subject: str = "Another week",
    started_at: dt.datetime | None = None,
    sent_at: dt.datetime | None = None,
    html: str | None = None,
    text: str = "ANOTHER WEEK\n",
) -> None:
    """An edition of another week, with the sample week's full render (or
    ``html``) under ``subject``: the sample content has one week only."""
    with sessions.begin() as session:
        model = session.scalars(
            select(EditionSegment).where(EditionSegment.segment == EVERYONE)
        ).first()
        assert model is not None
        session.add(
            Edition(
                list_id="weekly",
                week=week,
                status=status,
                subject=subject,
                started_at=started_at,
                sent_at=sent_at,
                segments=[
                    EditionSegment(
                        segment=EVERYONE,
                        subject=subject,
                        html=model.html if html is None else html,
                        text=text,
                    )
                ],
            )
        )


@pytest.fixture
def client(sessions: sessionmaker[Session], settings: Settings) -> FlaskClient:
    send_sample_week(sessions, settings)
    return create_app(settings, sessions=sessions).test_client()


def test_the_index_lists_editions_that_went_out_newest_first(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    day = dt.datetime(2026, 11, 17, 9, tzinfo=dt.UTC)
    add_edition(sessions, "2026-W47", EditionStatus.SENT, subject="Week 47 sent", sent_at=day)
    add_edition(sessions, "2026-W46", EditionStatus.CANCELLED, subject="Week 46 cancelled")
    add_edition(sessions, "2026-W49", EditionStatus.READY, subject="Week 49 not yet sent")
    add_edition(
        sessions, "2026-W50", EditionStatus.SENDING, subject="Week 50 going out", started_at=day
    )
    with sessions.begin() as session:
        session.add(Edition(list_id="weekly", week="2026-W45", status=EditionStatus.SKIPPED))
        session.add(Edition(list_id="other", week="2026-W44", status=EditionStatus.SENT))

    response = client.get("/archive")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    shown = re.findall(r'href="/archive/(\d{4}-W\d\d)"', page)
    assert shown == ["2026-W50", "2026-W48", "2026-W47"]
    as_text = re.findall(r'href="/archive/(\d{4}-W\d\d)\.txt" type="text/plain"', page)
    assert as_text == shown
    assert "Claude Files API vs Claude Haiku Open Weights" in page
    assert "Week 47 sent" in page and "17 Nov 2026" in page
    for hidden in ("cancelled", "not yet sent", "2026-W45", "2026-W44"):
        assert hidden not in page
    assert 'href="/archive.atom"' in page


def test_an_edition_page_is_the_full_digest_without_per_recipient_links(
    client: FlaskClient,
) -> None:
    response = client.get("/archive/2026-W48")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>")
    # Every category: tools of each category of the sample week are there.
    for name in ("Claude Files API", "Prismatic Canvas", "Vellum Voice", "Queryfox"):
        assert name in page
    assert "%%" not in page
    assert not PER_RECIPIENT.search(page)
    assert "Unsubscribe" not in page and "Change preferences" not in page
    assert "You get this email" not in page
    assert "This is an edition of Weekly AI Tool Verdicts, from the archive." in page
    # The vote buttons stay and lead to the subscribe page; so does the footer.
    votes = re.findall(r'<a class="vote-ship"\s+href="([^"]*)"[^>]*>', page)
    assert votes and set(votes) == {SUBSCRIBE}
    assert re.search(rf'<a href="{re.escape(SUBSCRIBE)}"\s+style="[^"]*">Subscribe</a>', page)


def test_the_text_part_is_served_without_its_per_recipient_lines(client: FlaskClient) -> None:
    response = client.get("/archive/2026-W48.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = response.get_data(as_text=True)
    assert "%%" not in text and not PER_RECIPIENT.search(text)
    assert "Ship it" not in text and "Change preferences" not in text
    assert f"\nSubscribe: {SUBSCRIBE}\n" in text
    assert "Claude Haiku Open Weights" in text
    assert "This is an edition of Weekly AI Tool Verdicts, from the archive." in text
    assert "\n\n\n" not in text


@pytest.mark.parametrize(
    ("week", "says"),
    [
        ("2026-W01", "There is no published edition for 2026-W01."),
        ("2026-W49", "There is no published edition for 2026-W49."),  # ready, not sent
        ("2026-W54", "is not a week"),
        ("2026-w48", "is not a week"),
        ("latest", "is not a week"),
        ("<script>alert(1)</script>", "is not a week"),
        ("2026-W48%00", "is not a week"),
        ("2026-W48/extra", "is not a week"),
    ],
)
def test_an_unknown_or_malformed_week_is_a_clear_404(
    client: FlaskClient, sessions: sessionmaker[Session], week: str, says: str
) -> None:
    add_edition(sessions, "2026-W49", EditionStatus.READY)
    for url in (f"/archive/{week}", f"/archive/{week}.txt", f"/archive/{week}/launches"):
        response = client.get(url)
        assert response.status_code == 404, url
        page = response.get_data(as_text=True)
        assert "No such edition" in page and says in page
        assert "<script>" not in page


def test_a_capped_editions_link_lists_every_launch_of_its_week(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    flood_week(sessions)
    send_sample_week(sessions, settings)
    client = create_app(settings, sessions=sessions).test_client()
    link = f"{SITE}/archive/2026-W48/launches"
    with sessions() as session:
        mailed = session.scalars(
            select(EditionSegment).where(EditionSegment.segment == EVERYONE)
        ).one()
    assert f'href="{link}"' in mailed.html and f"\n{link}\n" in mailed.text
    assert f'href="{link}"' in client.get("/archive/2026-W48").get_data(as_text=True)
    assert f"\n{link}\n" in client.get("/archive/2026-W48.txt").get_data(as_text=True)

    pages = []
    for page in (1, 2):
        response = client.get(link.removeprefix(SITE), query_string={"page": page})
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=300"
        pages.append(response.get_data(as_text=True))
        assert "502 launches this week" in pages[-1]
    listed = [html.unescape(name) for body in pages for name in re.findall(r"<b>([^<]+)</b>", body)]
    assert len(re.findall(r"<b>", pages[0])) == LAUNCHES_PER_PAGE
    # Every launch of the week but the compared tools, each once: the
    # sample's two, the flood's 480, the steady feed's 20.
    steady = {f"Steady {c.split()[0]} {n}" for c in STEADY for n in range(10)}
    flood = {f"Flood Tool {n}" for n in range(480)}
    assert sorted(listed) == sorted({"Queryfox", "Vellum Voice", *flood, *steady})
    assert 'href="https://flood-tool-7.example/" rel="nofollow ugc noopener"' in pages[0]
    for beyond in (0, 3, 10**30):
        response = client.get(link.removeprefix(SITE), query_string={"page": beyond})
        assert response.status_code == 404
        assert "2026-W48 has 2 pages of launches." in response.get_data(as_text=True)


def test_the_atom_feed_has_one_entry_per_edition(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    day = dt.datetime(2026, 11, 17, 9, 30, tzinfo=dt.UTC)
    add_edition(
        sessions,
        "2026-W47",
        EditionStatus.SENT,
        subject="Tabs & <b>tags</b> \x01 “quoted”",
        started_at=day,
        sent_at=day + dt.timedelta(minutes=5),
    )
    add_edition(sessions, "2026-W49", EditionStatus.CANCELLED)

    response = client.get("/archive.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    body = response.get_data()
    root = ET.fromstring(body)  # well-formed, or this raises
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"{SITE}/archive/2026-W48",
        f"{SITE}/archive/2026-W47",
    ]

    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "Weekly AI Tool Verdicts"
    first, second = parsed.entries
    assert first.title == "Claude Files API vs Claude Haiku Open Weights + 3 more comparisons"
    assert first.link == f"{SITE}/archive/2026-W48"
    assert first.summary == "Panel verdicts on 4 comparisons and 2 new launches, week of Nov 23."
    assert second.title == "Tabs & <b>tags</b>  “quoted”"  # text, not markup
    assert second.updated == "2026-11-17T09:35:00Z"
    assert second.published == "2026-11-17T09:30:00Z"
    assert parsed.feed.updated == first.updated
    assert "%%" not in body.decode()


def test_the_feed_of_no_editions_is_valid_and_dated_now() -> None:
    now = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    body = atom_feed([], title="List", site_url=f"{SITE}/", now=now)
    root = ET.fromstring(body)
    assert root.findtext(f"{ATOM}updated") == "2026-01-05T12:00:00Z"
    assert root.findtext(f"{ATOM}id") == f"{SITE}/archive"
    assert root.findall(f"{ATOM}entry") == []
    entry = ArchiveEntry("2026-W02", "S", now, now, "")
    linked = ET.fromstring(atom_feed([entry], title="List", site_url=SITE, now=now))
    (link,) = linked.findall(f"{ATOM}entry/{ATOM}link")
    assert link.get("href") == f"{SITE}/archive/2026-W02"


@pytest.mark.parametrize("host", ["evil.example", "verdicts.example", "127.0.0.1:8000"])
def test_a_redirect_goes_to_the_site_whatever_host_the_request_names(
    settings: Settings, sessions: sessionmaker[Session], host: str
) -> None:
    # The exact request, over real HTTP: Werkzeug merges the double slash
    # with a 308, and built its Location from the Host header.
    with serving(create_app(settings, sessions=sessions)) as base:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        connection.request("GET", "/archive//x", headers={"Host": host})
        answer = connection.getresponse()
        connection.close()
    assert answer.status == 308
    assert answer.getheader("Location") == f"{SITE}/archive/x"
