"""Every link of the digest resolves. The links of each message sent (its
HTML part, its text part and its List-Unsubscribe header, as composed for a
real subscriber) are followed against the subscriber app over HTTP: a link
on SITE_URL answers 200 (a one-click unsubscribe's GET is the page with its
button), or, a counted link (``/r/…``, CLICK_COUNTS), 302 to the destination
it names, which is then held to the same rules; any other is an https URL
the configuration or the content gives (a tool's homepage, a comparison's
``url:`` or COMPARE_URL), never fetched.

The messages carry SITE_URL (https://verdicts.example); the app is served on
loopback and each link is asked for there, with the same path and query."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvio import import_csv
from subscribers.web import create_app
from tests.support.commands import digest
from tests.support.mailparts import parse_message
from tests.support.pages import body
from tests.support.sample import SAMPLE, W48
from tests.support.signals import running
from tests.support.webapp import serving
from worker.config import Settings
from worker.deliver.editions import build_edition
from worker.deliver.runner import send_edition
from worker.domain.clicks import destination_of
from worker.domain.editorial import read_edition_file
from worker.domain.markdown import outline
from worker.domain.states import SubscriberStatus
from worker.ingest.importer import import_file
from worker.mail import backend_from_url
from worker.mail.base import OutgoingMessage
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory
from worker.store.models import Comparison, EditorCopy, Subscriber, Tool, Vote

SITE = "https://verdicts.example"
# Where the pages a digest links to live on SITE_URL; each must be linked.
PAGES = (
    "/compare/",
    "/archive/2026-W48",
    "/archive/2026-W48/launches",
    "/vote/",
    "/u/",
    "/preferences/",
    "/r/",  # the content's links, counted (CLICK_COUNTS)
)


class Links(HTMLParser):
    """The URLs of an HTML part's links and images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"a": "href", "img": "src"}.get(tag)
        url = dict(attrs).get(wanted) if wanted else None
        if url:
            self.urls.append(url)


def links_of(message: EmailMessage) -> list[str]:
    """Every link of ``message``, once: the HTML part's, the text part's
    and the List-Unsubscribe header's."""
    html = Links()
    html.feed(body(message, "html"))
    text = [url.rstrip(".,;)") for url in re.findall(r"\b(?:https?|mailto):\S+", body(message))]
    header = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    return list(dict.fromkeys([*html.urls, *text, *header]))


class _Unfollowed(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer of its own here: a link must answer 200 itself."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_Unfollowed())


def get(url: str) -> tuple[int, bytes, str | None]:
    """GET ``url``: the status, body and Location, whatever the status."""
    try:
        with _OPENER.open(url, timeout=30) as answer:
            return int(answer.status), bytes(answer.read()), answer.headers["Location"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["Location"]


def where(url: str) -> str:
    """Where a link leads: a counted link's destination, any other itself."""
    return destination_of(url, SITE) or url


def follow(urls: Iterable[str], served: str, external: set[str], list_domain: str) -> set[str]:
    """Check each of ``urls`` (links of messages on SITE_URL) against the
    app at ``served``; the paths of those on the site."""
    paths: set[str] = set()
    for url in urls:
        if url.startswith(f"{SITE}/r/"):
            status, _, location = get(f"{served}{url[len(SITE) :]}")
            assert (status, location) == (302, where(url)), url
            paths |= {"/r/", *follow([location], served, external, list_domain)}
        elif url.startswith(f"{SITE}/"):
            path = url[len(SITE) :]
            status, page, _ = get(f"{served}{path}")
            assert status == 200, f"{url}: {status}"
            if path.startswith("/u/"):  # the one-click URL: a GET shows its button
                assert b'<form method="post"' in page, url
            paths.add(path)
        elif url.startswith("mailto:"):
            assert url.startswith(f"mailto:unsubscribe@{list_domain}?subject="), url
        else:
            assert url.startswith("https://") and url in external, f"not configured: {url}"
    return paths


def assert_every_page_linked(paths: set[str]) -> None:
    for page in PAGES:
        assert any(path.startswith(page) for path in paths), f"no link to {page}: {paths}"


def external_urls(sessions: sessionmaker[Session], settings: Settings) -> set[str]:
    """The URLs outside the site that content, editors and configuration
    give: tools' homepages, comparisons' ``url:``, COMPARE_URL's, the links
    of the edition files' intros and METHOD_URL."""
    with sessions() as session:
        tools = set(session.scalars(select(Tool.url).where(Tool.url.is_not(None))))
        comparisons = session.execute(select(Comparison.slug, Comparison.url)).all()
        files = list(session.scalars(select(EditorCopy.source)))
    intros = {href for text in files for _, _, href in outline(read_edition_file(text).intro).links}
    own = {url for _, url in comparisons if url} | intros | {settings.method_url}
    configured = settings.compare_url
    elsewhere = (
        {configured.replace("{slug}", slug) for slug, _ in comparisons} if configured else set()
    )
    return {url for url in tools | own | elsewhere if url}


def nothing_changed(sessions: sessionmaker[Session]) -> None:
    """Following every link (GETs) unsubscribed nobody and recorded no vote."""
    with sessions() as session:
        statuses = set(session.scalars(select(Subscriber.status)))
        assert statuses == {SubscriberStatus.CONFIRMED}
        assert session.scalar(select(Vote.id)) is None


@contextmanager
def digest_web(env: dict[str, str], folder: Path) -> Iterator[str]:
    """``digest web`` on a free port; its base URL."""
    with running(env, folder, "web", "--port", "0") as web:
        web.wait_for("(Ctrl-C stops)")
        found = re.search(r"subscriber pages at (http://\S+)/ ", web.stdout())
        assert found, web.tail()
        yield found[1]
        web.signal(signal.SIGTERM, "process")
        assert web.stopped() == 0, web.tail()


def test_every_link_of_the_demo_digest_answers_from_digest_web(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SITE_URL": SITE,
        "SECRET_KEY": "links-test-secret",
        # Fewer launches than the week has: the email links to the list of all.
        "DIGEST_MAX_LAUNCHES": "3",
        "UNSUBSCRIBE_SPOOL_DIR": str(tmp_path / "spool"),
    }
    demo = tmp_path / "demo"
    done = digest(env, "demo", "--dir", str(demo))
    assert done.returncode == 0, done.stderr
    env["DATABASE_URL"] = f"sqlite:///{demo / 'digest.sqlite3'}"
    env["MAIL_URL"] = f"file://{tmp_path / 'web-outbox'}"
    sessions = session_factory(make_engine(env["DATABASE_URL"]))
    settings = Settings(site_url=SITE)
    messages = [parse_message(path.read_bytes()) for path in sorted(demo.glob("outbox/*.eml"))]
    assert len(messages) == 8
    urls = list(dict.fromkeys(url for message in messages for url in links_of(message)))
    with digest_web(env, tmp_path) as served:
        paths = follow(urls, served, external_urls(sessions, settings), settings.list_domain)
    assert_every_page_linked(paths)
    nothing_changed(sessions)


def test_comparisons_link_where_the_content_or_compare_url_says(
    sessions: sessionmaker[Session],
    settings: Settings,
    outbox: list[OutgoingMessage],
    tmp_path: Path,
) -> None:
    """A comparison's ``url:`` in the content file, else COMPARE_URL; the
    site's /compare/ pages are then linked from nowhere, and every other
    link still answers."""
    own = ("prismatic-canvas-vs-sketchloom", "https://prismatic.example/vs-sketchloom")
    content = yaml.safe_load((SAMPLE / "content.yaml").read_text(encoding="utf-8"))
    for comparison in content["comparisons"]:
        if comparison["slug"] == own[0]:
            comparison["url"] = own[1]
    (tmp_path / "content.yaml").write_text(yaml.safe_dump(content), encoding="utf-8")
    import_file(sessions, tmp_path / "content.yaml")
    import_csv(sessions, SAMPLE / "subscribers.csv")
    settings = dataclasses.replace(settings, compare_url="https://main.example/c/{slug}?via=digest")
    build_edition(sessions, W48, settings, Renderer(settings.templates_dir))
    send_edition(sessions, W48, settings, backend_from_url("memory://"))
    messages = [parse_message(sent.data) for sent in outbox]
    assert len(messages) == 8
    urls = list(dict.fromkeys(url for message in messages for url in links_of(message)))
    targets = [where(url) for url in urls]
    assert own[1] in targets
    assert (
        "https://main.example/c/claude-files-api-vs-claude-haiku-open-weights?via=digest" in targets
    )
    assert f"https://main.example/c/{own[0]}?via=digest" not in targets
    with serving(create_app(settings, sessions=sessions)) as served:
        paths = follow(urls, served, external_urls(sessions, settings), settings.list_domain)
    assert not any(path.startswith("/compare/") for path in paths)
    nothing_changed(sessions)
