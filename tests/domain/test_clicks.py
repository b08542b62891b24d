"""Counted links: written for an edition and an item, read back only as signed."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlsplit

import pytest

from worker.config import Settings
from worker.domain.clicks import (
    ClickLinks,
    counted_links,
    destination_of,
    edition_links,
    read_click,
)
from worker.domain.tokens import BadToken

SITE = "https://verdicts.example"
WEEK = "2026-W48"


@pytest.fixture
def links(settings: Settings) -> ClickLinks:
    found = edition_links(settings, WEEK)
    assert found is not None
    return found


def parts(url: str) -> tuple[str, str]:
    """The token and the destination of a counted link, as a web server reads them."""
    split = urlsplit(url)
    assert split.path.startswith("/r/")
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    return split.path.removeprefix("/r/"), query["to"]


def test_a_link_names_the_week_and_the_item_and_leads_where_it_was_signed_for(
    links: ClickLinks, settings: Settings
) -> None:
    url = links.url("launch:parcelbot", "https://parcelbot.example/")
    assert url.startswith(f"{SITE}/r/{WEEK}.l.parcelbot.")
    assert url.endswith("?to=https://parcelbot.example/")  # readable: a hover shows it
    token, destination = parts(url)
    click = read_click(settings, token, destination)
    assert (click.week, click.item, click.destination) == (
        WEEK,
        "launch:parcelbot",
        "https://parcelbot.example/",
    )
    # Short: the week, a letter, the slug and 16 characters of HMAC.
    assert len(token) == len(f"{WEEK}.l.parcelbot.") + 16


@pytest.mark.parametrize(
    "destination",
    [
        "https://tool.example/a?x=1&y=2+3#frag",
        "https://tool.example/path%20with%20escapes/?q=%26",
        "https://tool.example/ünïcode/?name=café;x=1",
        "https://tool.example/it's/(here)",
        "http://127.0.0.1:8080/launch?ref=digest",
    ],
)
def test_any_destination_comes_back_exactly(
    links: ClickLinks, settings: Settings, destination: str
) -> None:
    token, read = parts(links.url("tool:parcelbot", destination))
    assert read == destination
    assert read_click(settings, token, read).destination == destination


def test_the_same_link_is_written_for_a_build_and_a_preview(settings: Settings) -> None:
    first = edition_links(settings, WEEK)
    again = edition_links(dataclasses.replace(settings), WEEK)
    assert first is not None and again is not None
    url = first.url("comparison:a-vs-b", "https://verdicts.example/compare/a-vs-b")
    assert again.url("comparison:a-vs-b", "https://verdicts.example/compare/a-vs-b") == url


def test_an_altered_token_or_another_destination_is_refused(
    links: ClickLinks, settings: Settings
) -> None:
    token, destination = parts(links.url("launch:parcelbot", "https://parcelbot.example/"))
    week, kind, slug, mac = token.split(".")
    other_mac = ("B" if mac[0] == "A" else "A") + mac[1:]
    altered = [
        (f"{week}.{kind}.{slug}.{other_mac}", destination),
        (f"2026-W47.{kind}.{slug}.{mac}", destination),  # another edition
        (f"{week}.c.{slug}.{mac}", destination),  # another kind of item
        (f"{week}.{kind}.other-tool.{mac}", destination),  # another item
        (token, "https://evil.example/"),  # another destination
        (token, destination + "?x=1"),
        (token + ".x", destination),
        (f"{week}.{kind}.{slug}", destination),
        ("", destination),
    ]
    for bad_token, bad_destination in altered:
        with pytest.raises(BadToken):
            read_click(settings, bad_token, bad_destination)


def test_a_token_of_another_list_or_key_is_refused_an_old_key_still_reads(
    links: ClickLinks, settings: Settings
) -> None:
    token, destination = parts(links.url("launch:parcelbot", "https://parcelbot.example/"))
    with pytest.raises(BadToken):
        read_click(dataclasses.replace(settings, list_id="other"), token, destination)
    with pytest.raises(BadToken):
        read_click(dataclasses.replace(settings, secret_key="another-key"), token, destination)
    rotated = dataclasses.replace(
        settings, secret_key="the-new-key", old_secret_keys=(settings.secret_key,)
    )
    assert read_click(rotated, token, destination).item == "launch:parcelbot"


@pytest.mark.parametrize(
    "destination",
    ["javascript:alert(1)", "ftp://files.example/x", "//evil.example/", "/relative", ""],
)
def test_only_web_destinations_are_counted_or_followed(
    links: ClickLinks, settings: Settings, destination: str
) -> None:
    assert links.url("launch:parcelbot", destination) == destination  # written as it is
    real, _ = parts(links.url("launch:parcelbot", "https://parcelbot.example/"))
    with pytest.raises(BadToken):
        read_click(settings, real, destination)


def test_an_item_a_token_cannot_name_is_linked_as_it_is(links: ClickLinks) -> None:
    for item in ("launch:has.dot", "launch:has/slash", "vote:x", "launch:", "nothing"):
        assert links.url(item, "https://tool.example/") == "https://tool.example/"


def test_off_writes_no_counted_link(settings: Settings) -> None:
    assert edition_links(dataclasses.replace(settings, click_counts=False), WEEK) is None


def test_the_signing_key_is_not_shown(links: ClickLinks, settings: Settings) -> None:
    assert settings.secret_key not in repr(links)


def test_a_stored_render_says_where_each_item_went(links: ClickLinks) -> None:
    html = (
        f'<a href="{links.url("launch:a", "https://a.example/?x=1&y=2")}">A</a>'.replace(
            "&", "&amp;"
        )
        + f'<a href="{links.url("intro:1", "https://b.example/")}">B</a>'
        + f'<a href="{links.url("intro:1", "https://later.example/")}">B again</a>'
        + '<a href="https://elsewhere.example/r/2026-W48.l.z.AAAAAAAAAAAAAAAA?to=https://z.example/">'
    )
    quoted = links.url("launch:q", "https://q.example/it's")
    assert counted_links(f"text part: {quoted}\n", SITE) == {"launch:q": "https://q.example/it's"}
    assert counted_links(html, SITE) == {
        "launch:a": "https://a.example/?x=1&y=2",
        "intro:1": "https://b.example/",
    }
    url = links.url("tool:t", "https://t.example/p?q=1&r=2")
    assert destination_of(url, SITE) == "https://t.example/p?q=1&r=2"
    assert destination_of("https://t.example/r/x?to=https://y.example/", SITE) is None
