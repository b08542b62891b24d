"""Editors' Markdown (worker/domain/markdown.py): what is refused and on
which line, the HTML an email gets (sanitised whatever the parser lets
through), and the text part with its links as footnotes."""

from __future__ import annotations

import pytest

from worker.domain.markdown import problems, to_html, to_text


def refused(text: str) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in problems(text)]


def test_plain_markdown_has_no_problem() -> None:
    text = (
        "Intro with **bold**, *emphasis*, `code` and [a link](https://verdicts.example/a).\n\n"
        "- a list\n- of two\n\n> a quote\n\n![A chart](https://img.example/c.png)\n\n"
        "a < b and c > d\n\n<https://auto.example/x>"
    )
    assert problems(text) == []


@pytest.mark.parametrize(
    ("text", "line", "start"),
    [
        ("<script>alert(1)</script>", 1, "HTML is not accepted (<script>alert(1)</script>)"),
        ("One\n\nTwo <b>bold</b>", 3, "HTML is not accepted (Two <b>bold</b>)"),
        ("One\ntwo <img src=x onerror=y>", 2, "HTML is not accepted"),
        ("x\n\n<!-- a note -->", 3, "HTML is not accepted (<!-- a note -->)"),
        ("\n\n[a](http://plain.example)", 3, "a link must be https: 'http://plain.example'"),
        ("[a](javascript:alert(1))", 1, "a link must be https: 'javascript:alert(1)'"),
        ("[a](mailto:x@example.com)", 1, "a link must be https: 'mailto:x@example.com'"),
        ("x\n![i](http://img.example/a.png)", 2, "an image must be https"),
        ("[a][r]\n\n[r]: data:text/html,hi", 1, "a link must be https: 'data:text/html,hi'"),
    ],
)
def test_raw_html_and_links_that_are_not_https_are_refused_on_their_line(
    text: str, line: int, start: str
) -> None:
    (found,) = refused(text)
    assert found[0] == line and found[1].startswith(start), found


def test_the_html_is_the_markdown_and_links_are_https_without_a_referrer() -> None:
    html = to_html('Read [the method](https://verdicts.example/method "How").\n\n1. one\n2. two')
    assert html == (
        '<p>Read <a href="https://verdicts.example/method" title="How" '
        'rel="noopener noreferrer">the method</a>.</p>\n<ol>\n<li>one</li>\n<li>two</li>\n</ol>'
    )


def test_raw_html_reaches_the_html_as_text_never_as_markup() -> None:
    html = to_html("Hi <script>alert(1)</script> <b onclick=x>b</b>")
    assert "<script" not in html and "<b" not in html
    assert "&lt;script&gt;" in html


def test_nh3_strips_what_the_parser_lets_through() -> None:
    """The parser renders every link and heading it reads; what is not on
    the allow-list (a javascript: or http: target, h1, hr, pre) is dropped
    by nh3, keeping the text."""
    html = to_html(
        "# Title\n\n[x](javascript:alert(1)) [y](http://a.example) "
        "![pic](http://img.example/p.png)\n\n---\n\n```\ncode\n```"
    )
    for gone in ("javascript:", "http://", "<h1", "<hr", "<pre"):
        assert gone not in html, gone
    assert "Title" in html and '<a rel="noopener noreferrer">x</a>' in html
    assert '<img alt="pic">' in html and "<code>code\n</code>" in html


def test_the_text_part_wraps_and_gives_links_as_numbered_footnotes() -> None:
    text = to_text(
        "The panel split on [the Files API](https://verdicts.example/a) this week, and "
        "everyone agreed on [Haiku](https://verdicts.example/b); [this one](http://x.example) "
        "is not https.\n\n- one\n- [two](https://verdicts.example/two)\n\n1. first\n2. second",
        width=40,
    )
    assert text == (
        "The panel split on the Files API [1]\n"
        "this week, and everyone agreed on Haiku\n"
        "[2]; this one is not https.\n"
        "\n"
        "- one\n"
        "- two [3]\n"
        "\n"
        "1. first\n"
        "2. second\n"
        "\n"
        "[1] https://verdicts.example/a\n"
        "[2] https://verdicts.example/b\n"
        "[3] https://verdicts.example/two"
    )


def test_the_text_part_keeps_quotes_headings_and_code_readable() -> None:
    text = to_text(
        "## Why\n\n> A quote [q](https://q.example)\n\n    indented code\n\n![A chart](https://i.example/c.png)"
    )
    assert text == (
        "Why\n---\n\n> A quote q [1]\n\n    indented code\n\n[A chart]\n\n[1] https://q.example"
    )


def test_a_link_writer_numbers_the_links_alike_in_both_parts() -> None:
    text = (
        "Read [the method](https://verdicts.example/method?a=1&b=2), not "
        '[this](http://plain.example/), and [that](https://that.example/"q).\n\n'
        "- [one more](https://more.example/)"
    )

    def write(number: int, url: str) -> str:
        return f"http://localhost:5000/r/{number}?to={url}"

    html = to_html(text, write)
    assert html.count("/r/") == 3  # the http link was dropped by the sanitiser, unnumbered
    assert 'href="http://localhost:5000/r/1?to=https://verdicts.example/method?a=1&amp;b=2"' in html
    assert 'href="http://localhost:5000/r/2?to=https://that.example/%22q"' in html
    assert 'href="http://localhost:5000/r/3?to=https://more.example/"' in html
    plain = to_text(text, 72, write)
    assert "[1] http://localhost:5000/r/1?to=https://verdicts.example/method?a=1&b=2" in plain
    assert "[2] http://localhost:5000/r/2?to=https://that.example/%22q" in plain
    assert "[3] http://localhost:5000/r/3?to=https://more.example/" in plain
    assert to_html(text) == to_html(text, None)  # without a writer, as before
    assert "[1] https://verdicts.example/method?a=1&b=2" in to_text(text)
