"""The digest lint, on real composed messages: rendered digests (some with
their parts or templates changed first) through the real composer."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import io
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from tests.support.digests import (
    big_digest,
    flooded_digest,
    long_launches_digest,
    seed_digest,
)
from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.config import Settings, load_settings
from worker.domain.digest import Digest
from worker.editor.demo import run_demo
from worker.editor.lint.htmlscan import scan_html
from worker.editor.lint.rules import (
    CHECKS,
    GMAIL_CLIP_BYTES,
    Finding,
    Level,
    by_level,
    has_errors,
    lint_message,
)
from worker.editor.sample import SAMPLE_WEEK
from worker.render.renderer import Renderer, preheader_for

READER = Recipient(0, "reader@example.com", "Sample Reader")
EDITION = EditionRef(1, "2026-W48")
# Before the footer, where an editor's extra content would go.
FOOTER = "You get this email because"


@pytest.fixture
def lint_settings(settings: Settings) -> Settings:
    """The test settings, with the postal address the sample digests carry."""
    return dataclasses.replace(settings, postal_address=seed_digest().postal_address)


def parts_of(digest: Digest, settings: Settings) -> SegmentParts:
    rendered = Renderer(settings.templates_dir).render(digest)
    return SegmentParts(rendered.subject, rendered.html, rendered.text)


def compose(parts: SegmentParts, settings: Settings) -> bytes:
    return compose_message(parts, READER, EDITION, settings).data


def lint(parts: SegmentParts, settings: Settings) -> list[Finding]:
    return lint_message(compose(parts, settings), settings)


def of(findings: list[Finding], check: str, level: Level | None = None) -> list[str]:
    """The messages of ``check`` (at ``level``) in ``findings``."""
    return [f.message for f in findings if f.check == check and level in (None, f.level)]


def with_html(parts: SegmentParts, extra: str) -> SegmentParts:
    """``parts`` with ``extra`` HTML in the body, before the footer."""
    at = parts.html.index(FOOTER)
    return dataclasses.replace(parts, html=parts.html[:at] + extra + parts.html[at:])


def decoded_html(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_the_seed_digest_is_clean(lint_settings: Settings) -> None:
    digest = seed_digest()
    findings = lint(parts_of(digest, lint_settings), lint_settings)
    assert {f.level for f in findings} == {Level.INFO}, findings
    assert [f.check for f in findings] == ["size", "preview-text", "subject"]
    assert re.fullmatch(
        r"HTML is \d{2},\d{3} bytes, \d+ % of Gmail's clip at 104,448 bytes \(102 KB\)",
        findings[0].message,
    )
    assert of(findings, "preview-text") == [f"preview text: “{preheader_for(digest)}”"]
    assert of(findings, "subject") == [
        "the subject is 45 characters: “Claude Files API vs Claude Haiku Open Weights”"
    ]
    assert not has_errors(findings)
    assert {f.check for f in findings} <= set(CHECKS)


def test_the_demo_has_no_errors(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", SAMPLE_WEEK, Console(file=io.StringIO()))
    settings = load_settings()  # what the demo composed with
    files = sorted(result.outbox.glob("*.eml"))
    assert len(files) == result.messages > 0
    for eml in files:
        findings = lint_message(eml.read_bytes(), settings)
        assert not has_errors(findings), (eml.name, findings)
        # The text part carries everything the HTML says and links to.
        assert not of(findings, "text-part"), (eml.name, findings)
        warnings = [f for f in findings if f.level is Level.WARNING]
        if settings.site_url.startswith("https://"):
            assert warnings == [], (eml.name, warnings)
        else:  # the default SITE_URL, http://localhost:5000: only that is warned of
            assert {f.check for f in warnings} == {"link-scheme", "unsubscribe"}
            assert all("not https" in f.message for f in warnings), warnings


def test_a_digest_too_large_for_gmail_is_an_error(lint_settings: Settings) -> None:
    findings = lint(parts_of(big_digest(comparisons=8, launches=60), lint_settings), lint_settings)
    [message] = of(findings, "size", Level.ERROR)
    size = re.fullmatch(r"HTML is ([\d,]+) bytes; Gmail clips .*", message)
    assert size and int(size[1].replace(",", "")) > GMAIL_CLIP_BYTES
    assert message.endswith("Gmail clips messages over 104,448 bytes (102 KB)")
    assert has_errors(findings)


@pytest.mark.parametrize(
    ("over_limit", "level"),
    [(0, Level.WARNING), (1, Level.ERROR), (-int(0.1 * GMAIL_CLIP_BYTES) - 1, Level.INFO)],
)
def test_html_size_against_the_clipping_limit(
    lint_settings: Settings, over_limit: int, level: Level
) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    size = len(decoded_html(compose(parts, lint_settings)).encode())
    padding = GMAIL_CLIP_BYTES + over_limit - size - len("<!---->")
    padded = dataclasses.replace(
        parts, html=parts.html.replace("</body>", f"<!--{'x' * padding}--></body>")
    )
    raw = compose(padded, lint_settings)
    assert len(decoded_html(raw).encode()) == GMAIL_CLIP_BYTES + over_limit
    [finding] = [f for f in lint_message(raw, lint_settings) if f.check == "size"]
    assert finding.level is level
    assert f"HTML is {GMAIL_CLIP_BYTES + over_limit:,} bytes" in finding.message


def test_an_edition_with_launches_left_out_is_warned_of(lint_settings: Settings) -> None:
    findings = lint(parts_of(flooded_digest(500), lint_settings), lint_settings)
    assert of(findings, "launches") == [
        "launches capped: 460 of 500 left out (DIGEST_MAX_LAUNCHES is 40), "
        "summarised with a link to the archive's list"
    ]
    assert of(findings, "launches", Level.WARNING)
    assert of(findings, "size", Level.INFO)  # the size check still applies
    assert not of(findings, "text-part")  # the summary and its link are in both parts


def test_launches_left_out_to_fit_the_budget_are_warned_of(lint_settings: Settings) -> None:
    findings = lint(parts_of(long_launches_digest(), lint_settings), lint_settings)
    [message] = of(findings, "launches", Level.WARNING)
    assert re.fullmatch(
        r"launches capped: \d+ of 40 left out \(DIGEST_MAX_LAUNCHES is 40; fewer fit in the "
        r"HTML budget of 90,000 bytes\), summarised with a link to the archive's list",
        message,
    )
    assert not has_errors(findings)


def test_content_cannot_pose_as_the_summary_of_launches(lint_settings: Settings) -> None:
    fake = '<p class="more-launches" data-shown="1" data-more="99">'
    digest = dataclasses.replace(
        seed_digest(), launches=(dataclasses.replace(seed_digest().launches[0], tagline=fake),)
    )
    assert not of(lint(parts_of(digest, lint_settings), lint_settings), "launches")


def test_an_image_without_alt_text_is_an_error(lint_settings: Settings) -> None:
    parts = with_html(
        parts_of(seed_digest(), lint_settings),
        '<img src="https://verdicts.example/chart.png" width="560">'
        '<img src="https://verdicts.example/rule.png" alt="" width="560">'
        '<a href="https://verdicts.example/"><img src="https://verdicts.example/logo.png" alt=""'
        ' width="120"></a>'
        '<a href="https://verdicts.example/"><img src="https://verdicts.example/home.png"'
        ' alt="Home" width="120"></a>'
        '<img src="https://verdicts.example/banner.png" alt="A banner">',
    )
    findings = lint(parts, lint_settings)
    assert of(findings, "image-alt", Level.ERROR) == [
        "image without alt text: https://verdicts.example/chart.png"
    ]
    # alt="" is decorative, unless the image is all a link has.
    assert of(findings, "image-alt", Level.WARNING) == [
        "image with empty alt is a link's only content, so the link has no name: "
        "https://verdicts.example/logo.png (links to https://verdicts.example/)"
    ]
    assert of(findings, "image-width") == [
        "image without a width attribute (Outlook shows it at its natural size): "
        "https://verdicts.example/banner.png"
    ]
    assert has_errors(findings)


def test_a_missing_unsubscribe_link_is_an_error(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    html, removed = re.subn(
        r'<a\s+href="\s*%%unsubscribe_url%%\s*"[^>]*>Unsubscribe</a>', "", parts.html
    )
    assert removed == 1
    findings = lint(dataclasses.replace(parts, html=html), lint_settings)
    [message] = of(findings, "unsubscribe")
    assert message.startswith("no unsubscribe link in the HTML (an <a> to List-Unsubscribe's ")
    assert "https://verdicts.example/u/" in message
    assert [f.level for f in findings if f.check == "unsubscribe"] == [Level.ERROR]


def test_an_unsubscribe_link_only_in_hidden_html_does_not_count(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    html = re.sub(
        r'(<a\s+href="\s*%%unsubscribe_url%%\s*"[^>]*>Unsubscribe</a>)',
        r'<span style="display: none">\1</span>',
        parts.html,
    )
    findings = lint(dataclasses.replace(parts, html=html), lint_settings)
    assert of(findings, "unsubscribe", Level.ERROR)[0].startswith("no unsubscribe link in the HTML")


def test_the_text_part_needs_the_unsubscribe_link(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    text = parts.text.replace("Unsubscribe: %%unsubscribe_url%%\n", "")
    assert text != parts.text
    findings = lint(dataclasses.replace(parts, text=text), lint_settings)
    [message] = of(findings, "unsubscribe", Level.ERROR)
    assert message.startswith("no unsubscribe link in the text part")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            "no List-Unsubscribe-Post header",
        ),
        (None, "no List-Unsubscribe header"),
    ],
)
def test_the_unsubscribe_headers_are_required(
    lint_settings: Settings, header: bytes | None, expected: str
) -> None:
    raw = compose(parts_of(seed_digest(), lint_settings), lint_settings)
    if header is None:  # the whole folded List-Unsubscribe header
        folded = re.search(rb"List-Unsubscribe: .*?\r\n(?! )", raw, re.DOTALL)
        assert folded
        header = folded[0]
    assert header in raw
    findings = lint_message(raw.replace(header, b""), lint_settings)
    assert expected in of(findings, "unsubscribe", Level.ERROR)


def test_http_links_are_warned_of_by_host(lint_settings: Settings) -> None:
    site = "http://localhost:5000"
    settings = dataclasses.replace(lint_settings, site_url=site)
    digest = dataclasses.replace(seed_digest(), site_url=site)
    parts = with_html(
        parts_of(digest, settings),
        '<img src="http://cdn.example/chart.png" alt="Chart" width="500">'
        '<a href="mailto:editors@verdicts.example">Write to the editors</a>',
    )
    raw = compose(parts, settings)
    findings = lint_message(raw, settings)
    links = re.findall(r'href="\s*(http://localhost:5000[^"]*)"', decoded_html(raw))
    assert len(links) > 5
    assert of(findings, "link-scheme", Level.WARNING) == [
        f"{len(links)} links to {site} are not https (e.g. {links[0]})",
        "1 image from http://cdn.example is not https (e.g. http://cdn.example/chart.png)",
    ]
    unsubscribe = re.search(rb"List-Unsubscribe: <(http://[^>]+)>", raw)
    assert unsubscribe
    assert of(findings, "unsubscribe", Level.WARNING) == [
        "List-Unsubscribe's URL is not https, as one-click unsubscribe needs: "
        + unsubscribe[1].decode()
    ]
    assert not has_errors(findings)


def test_links_that_go_nowhere_are_errors(lint_settings: Settings) -> None:
    parts = with_html(
        parts_of(seed_digest(), lint_settings),
        '<p><a href="#">Back to top</a> <a href="">Empty</a> <a href="javascript:void(0)">Menu</a>'
        ' <a href="/archive/2026-W48">Archive</a> <a href="ftp://files.example/x">Files</a>'
        ' <a name="anchor">Named</a> <a href="tel:+15550100">Call</a>'
        ' <a href="http://[oops/">Broken</a>'
        ' <img src="logo.png" alt="Logo" width="10">'
        ' <img src="http://[oops/x.png" alt="" width="1"></p>',
    )
    findings = lint(parts, lint_settings)
    assert of(findings, "link-scheme", Level.ERROR) == [
        "link “Back to top” goes nowhere: href='#'",
        "link “Empty” goes nowhere: href=''",
        "link “Menu” runs JavaScript, which no mail client does: href='javascript:void(0)'",
        "link “Archive” is relative; a mail client has no page to resolve it against: "
        "href='/archive/2026-W48'",
        "link “Files” has the ftp: scheme, which mail clients do not open: "
        "href='ftp://files.example/x'",
        "link “Broken” is not a valid URL: href='http://[oops/'",
        "image src is not an https URL, so it does not load: logo.png",
        "image src is not an https URL, so it does not load: http://[oops/x.png",
    ]


def test_a_leftover_placeholder_is_an_error(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    parts = dataclasses.replace(
        with_html(parts, "<p>Hello %%first_name%%</p>"),
        text=parts.text.replace("\n", "\nHello %%first_name%%\n", 1),
    )
    findings = lint(parts, lint_settings)
    assert of(findings, "link-scheme", Level.ERROR) == [
        "leftover placeholder %%first_name%% in the HTML part",
        "leftover placeholder %%first_name%% in the text part",
    ]


def copy_of_templates(
    tmp_path: Path, settings: Settings, name: str, old: str, new: str
) -> Settings:
    """Settings whose templates are a copy with ``old`` replaced by ``new`` in ``name``."""
    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    path = templates / "email" / name
    source = path.read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{old!r} not once in {name}"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return dataclasses.replace(settings, templates_dir=templates)


def test_a_footer_without_the_postal_address_is_an_error(
    tmp_path: Path, lint_settings: Settings
) -> None:
    settings = copy_of_templates(
        tmp_path, lint_settings, "digest.mjml.j2", "<br>{{ digest.postal_address }}", ""
    )
    findings = lint(parts_of(seed_digest(), settings), settings)
    assert of(findings, "postal-address") == [
        "the postal address is not in the HTML's visible text: "
        "“548 Market St, San Francisco, CA 94104, USA”"
    ]
    assert has_errors(findings)


def test_the_postal_address_must_be_set_and_in_the_text(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    unset = dataclasses.replace(lint_settings, postal_address=" ")
    assert of(lint(parts, unset), "postal-address", Level.ERROR) == ["POSTAL_ADDRESS is not set"]
    moved = dataclasses.replace(lint_settings, postal_address="1 Other Road, Springfield")
    assert of(lint(parts, moved), "postal-address", Level.ERROR) == [
        "the postal address is not in the HTML's visible text: “1 Other Road, Springfield”",
        "the postal address is not in the text part: “1 Other Road, Springfield”",
    ]


def test_a_digest_without_preview_text_is_warned_of(
    tmp_path: Path, lint_settings: Settings
) -> None:
    settings = copy_of_templates(
        tmp_path, lint_settings, "digest.mjml.j2", "<mj-preview>{{ preheader }}</mj-preview>", ""
    )
    findings = lint(parts_of(seed_digest(), settings), settings)
    assert of(findings, "preview-text") == [
        "no preview text: inboxes show the body's first words after the subject"
    ]
    assert [f.level for f in findings if f.check == "preview-text"] == [Level.WARNING]


def test_subject_length_and_emptiness(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    long = "Claude Files API vs Claude Haiku Open Weights vs Every Other Model Anyone Launched"
    findings = lint(dataclasses.replace(parts, subject=long), lint_settings)
    assert of(findings, "subject", Level.WARNING) == [
        f"the subject is {len(long)} characters; phones cut it after about 70: “{long}”"
    ]
    findings = lint(dataclasses.replace(parts, subject=""), lint_settings)
    assert of(findings, "subject", Level.ERROR) == ["the subject is empty"]


def test_html_content_missing_from_the_text_part_is_warned_of(lint_settings: Settings) -> None:
    extra = [f"<p>Paragraph number {n} that only the HTML part carries.</p>" for n in range(7)]
    parts = with_html(
        parts_of(seed_digest(), lint_settings),
        "".join(extra) + '<p><a href="https://verdicts.example/only-in-html">Read it</a></p>'
        # Neither Outlook-only markup nor hidden text is owed to the text part.
        "<!--[if mso]><p>A paragraph only Outlook shows to its readers.</p><![endif]-->"
        '<div style="display:none">A hidden line the text part need not have.</div>',
    )
    findings = lint(parts, lint_settings)
    assert of(findings, "text-part", Level.WARNING) == [
        *(
            f"the text part lacks “Paragraph number {n} that only the HTML part carries.”"
            for n in range(5)
        ),
        "and 2 more HTML text blocks the text part lacks",
        "1 link of the HTML is not in the text part (e.g. https://verdicts.example/only-in-html)",
    ]


def test_a_missing_or_empty_text_part_is_an_error(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    findings = lint(dataclasses.replace(parts, text=" \n"), lint_settings)
    assert of(findings, "text-part", Level.ERROR) == ["the text part is empty"]

    message = email.message_from_bytes(compose(parts, lint_settings), policy=email.policy.default)
    message.set_payload([p for p in message.iter_parts() if p.get_content_type() != "text/plain"])
    findings = lint_message(message.as_bytes(), lint_settings)
    assert of(findings, "text-part", Level.ERROR) == ["the message has no text/plain part"]
    # The text-part checks of other ids say nothing more about a part that is not there.
    assert [f for f in findings if f.level is Level.ERROR] == [
        Finding(Level.ERROR, "text-part", "the message has no text/plain part")
    ]


def test_a_message_without_html_is_an_error(lint_settings: Settings) -> None:
    parts = parts_of(seed_digest(), lint_settings)
    message = email.message_from_bytes(compose(parts, lint_settings), policy=email.policy.default)
    message.set_payload([p for p in message.iter_parts() if p.get_content_type() != "text/html"])
    findings = lint_message(message.as_bytes(), lint_settings)
    assert [(f.level, f.check) for f in findings if f.level is not Level.INFO] == [
        (Level.ERROR, "html-part")
    ]
    findings = lint(dataclasses.replace(parts, html=" \n"), lint_settings)
    assert of(findings, "html-part", Level.ERROR) == ["the HTML part is empty"]


def test_findings_come_errors_first(lint_settings: Settings) -> None:
    parts = with_html(
        parts_of(seed_digest(), lint_settings),
        '<img src="https://verdicts.example/a.png"><a href="#">Top</a>',
    )
    findings = lint(dataclasses.replace(parts, subject="x" * 90), lint_settings)
    levels = [f.level for f in findings]
    assert levels == sorted(levels, key=[Level.ERROR, Level.WARNING, Level.INFO].index)
    assert {Level.ERROR, Level.WARNING, Level.INFO} <= set(levels)
    assert by_level(reversed(findings))[0].level is Level.ERROR


def test_the_preheader_is_the_hidden_text_at_the_top(lint_settings: Settings) -> None:
    digest = seed_digest()
    html = Renderer(lint_settings.templates_dir).render(digest).html
    assert scan_html(html).preheader == preheader_for(digest)
    padded = '<body><div style="display: none; max-height:0">Read this week\u200c&nbsp;\u200c</div>'
    assert scan_html(padded + "<p>Hello</p></body>").preheader == "Read this week"
    assert scan_html("<body><p>Hello</p></body>").preheader is None
    # A hidden div further down is not preview text: inboxes show "Hello" first.
    assert (
        scan_html('<body><p>Hello</p><div style="display:none">Later</div></body>').preheader
        is None
    )
