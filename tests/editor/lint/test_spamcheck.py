"""SpamAssassin, run for real on composed messages, local tests only.

Skips when ``spamassassin`` is not installed, unless
``VERDICT_REQUIRE_SPAMASSASSIN=1`` makes that a failure.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.config import Settings
from worker.editor.demo import run_demo
from worker.editor.lint.rules import Finding, Level
from worker.editor.lint.spamcheck import (
    NOT_INSTALLED,
    SpamCheckError,
    SpamReport,
    SpamRule,
    check_spam,
    parse_report,
    spam_findings,
    spamassassin_path,
)
from worker.editor.sample import SAMPLE_WEEK

REQUIRE = os.environ.get("VERDICT_REQUIRE_SPAMASSASSIN") == "1"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SPAM_PITCH = (
    "Dear friend, you have been selected as a WINNER! Click here to claim your FREE prize. "
    "100% guaranteed, no risk, money back guarantee. Cheap viagra and cialis, lose weight "
    "fast, work from home and earn $5000 a week. Act now! Order today, limited time only."
)


@pytest.fixture(scope="module")
def spamassassin() -> str:
    path = spamassassin_path()
    if path is None:
        if REQUIRE:
            pytest.fail("spamassassin is not installed and VERDICT_REQUIRE_SPAMASSASSIN=1")
        pytest.skip("spamassassin is not installed (apt-get install spamassassin)")
    return path


@pytest.fixture(scope="module")
def demo_message(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The first message the demo sends."""
    result = run_demo(tmp_path_factory.mktemp("demo"), SAMPLE_WEEK, Console(file=io.StringIO()))
    return sorted(result.outbox.glob("*.eml"))[0].read_bytes()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME for the test; SpamAssassin must leave it so."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def composed(subject: str, body: str, settings: Settings) -> bytes:
    html = f"<html><body><p><b>{body}</b></p><p>%%unsubscribe_url%%</p></body></html>"
    parts = SegmentParts(subject, html, f"{body}\n%%unsubscribe_url%%\n")
    recipient = Recipient(0, "reader@example.com", None)
    return compose_message(parts, recipient, EditionRef(1, "2026-W48"), settings).data


def test_a_demo_message_is_scored(spamassassin: str, demo_message: bytes, home: Path) -> None:
    report = check_spam(demo_message)
    assert report.required == 5.0
    assert 0 <= report.score < report.required / 2
    names = [rule.name for rule in report.rules]
    assert "HTML_MESSAGE" in names  # it has an HTML part, and SpamAssassin saw it
    assert all(re.fullmatch(r"[A-Z0-9_]+", name) for name in names), names
    assert all(rule.description and "  " not in rule.description for rule in report.rules)
    # The table shows each rule to 0.1 points; the score is their sum.
    assert abs(report.score - sum(rule.score for rule in report.rules)) <= 0.05 * len(names) + 0.05
    [finding] = spam_findings(report)
    assert finding.level is Level.INFO and finding.check == "spam"
    assert finding.message.startswith(f"SpamAssassin {report.score:.1f} (5.0 required): ")
    for rule in report.rules:
        assert (f"{rule.name} " in finding.message) == (rule.score != 0)
    assert list(home.iterdir()) == []


def test_spam_phrases_score_high(spamassassin: str, settings: Settings, home: Path) -> None:
    raw = composed("FREE MONEY!!! ACT NOW, LIMITED TIME OFFER", SPAM_PITCH.upper(), settings)
    report = check_spam(raw)
    assert report.score >= report.required / 2
    assert "SUBJ_ALL_CAPS" in [rule.name for rule in report.rules]
    [finding] = spam_findings(report)
    assert finding.level in (Level.ERROR, Level.WARNING)
    assert "SUBJ_ALL_CAPS 0." in finding.message
    assert list(home.iterdir()) == []


def test_the_spam_test_pattern_is_an_error(spamassassin: str, settings: Settings) -> None:
    report = check_spam(composed("Weekly AI Tool Verdicts", f"{GTUBE}\n", settings))
    assert report.score >= 1000
    assert (
        SpamRule(1000.0, "GTUBE", "BODY: Generic Test for Unsolicited Bulk Email") in report.rules
    )
    [finding] = spam_findings(report)
    assert finding.level is Level.ERROR
    assert "GTUBE 1000" in finding.message


def test_nothing_is_left_in_the_temporary_directory(
    spamassassin: str, demo_message: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    check_spam(demo_message)
    assert list(scratch.iterdir()) == []


def test_a_run_past_its_timeout_is_a_clear_error(spamassassin: str, demo_message: bytes) -> None:
    with pytest.raises(SpamCheckError, match=r"^SpamAssassin took longer than 0\.01 s$"):
        check_spam(demo_message, timeout=0.01)


def test_without_spamassassin_the_check_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert spamassassin_path() is None
    with pytest.raises(SpamCheckError, match=re.escape(NOT_INSTALLED)):
        check_spam(b"Subject: hello\r\n\r\nhello\r\n")
    assert spam_findings(None) == [
        Finding(
            Level.INFO,
            "spam",
            "SpamAssassin is not installed (apt-get install spamassassin): spam score not checked",
        )
    ]


@pytest.mark.parametrize(
    ("score", "level"),
    [(5.0, Level.ERROR), (12.3, Level.ERROR), (2.5, Level.WARNING), (2.4, Level.INFO)],
)
def test_the_level_follows_the_score(score: float, level: Level) -> None:
    rules = (SpamRule(score, "SOME_RULE", "Some rule"), SpamRule(-0.0, "NO_RELAYS", "No relays"))
    [finding] = spam_findings(SpamReport(score, 5.0, rules))
    assert finding == Finding(
        level, "spam", f"SpamAssassin {score:.1f} (5.0 required): SOME_RULE {score:g}"
    )


# The end of a real `spamassassin -L -t` run on a message that quotes a report.
OUTPUT = """\
Subject: a message that quotes a report

Content analysis details:   (99.0 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
99.0 QUOTED_RULE            Not SpamAssassin's: part of the message

Content analysis details:   (3.4 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
-0.0 NO_RELAYS              Informational: message was not relayed via SMTP
 2.7 GUARANTEED_100_PERCENT BODY: One hundred percent guaranteed
 0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font color similar or identical to
                            background
1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email

"""


def test_the_report_table_is_read_with_its_long_descriptions() -> None:
    assert parse_report(OUTPUT) == SpamReport(
        3.4,
        5.0,
        (
            SpamRule(-0.0, "NO_RELAYS", "Informational: message was not relayed via SMTP"),
            SpamRule(2.7, "GUARANTEED_100_PERCENT", "BODY: One hundred percent guaranteed"),
            SpamRule(
                0.7,
                "HTML_FONT_LOW_CONTRAST",
                "BODY: HTML font color similar or identical to background",
            ),
            SpamRule(1000.0, "GTUBE", "BODY: Generic Test for Unsolicited Bulk Email"),
        ),
    )
    with pytest.raises(SpamCheckError, match="no report"):
        parse_report("Subject: hello\n\nhello\n")
