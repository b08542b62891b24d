"""A message's SpamAssassin score, from a local run with no network tests.

``spamassassin -L -t`` reads the message on stdin and prints it back with a
report at the bottom: the score, the score that counts as spam, and a table
of the rules that fired. Nothing of it may land in the user's home, and
SpamAssassin writes there in two ways: ``~/.spamassassin`` (by ``HOME``)
for preferences and state, and a write test in ``.spamassassin`` of the
home in the password file, whatever ``HOME`` says, unless its library is
given ``home_dir_for_helpers``, which the command has no option for. So the
command runs with ``HOME`` and ``TMPDIR`` in a temporary directory, a
preferences file there, Bayes off (nothing is learnt from the message), and
a small Perl module loaded first that passes that directory as
``home_dir_for_helpers``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from worker.editor.lint.rules import Finding, Level
from worker.errors import DigestError

NOT_INSTALLED = (
    "SpamAssassin is not installed (apt-get install spamassassin): spam score not checked"
)
_DETAILS = re.compile(
    r"^Content analysis details:\s+\((-?[\d.]+) points, (-?[\d.]+) required\)\s*$", re.MULTILINE
)
# A rule's row: points right-aligned in four columns, then name and description;
# a description's further lines are indented past the name column.
_RULE = re.compile(r"^ {0,3}(-?\d+(?:\.\d+)?) +(\S+) *(.*)$")
_CONTINUED = re.compile(r"^ {5,}\S")
_STDERR_SHOWN = 300
_HOOK = "VerdictDigestSpamHome"
# Gives every Mail::SpamAssassin the temporary directory as home_dir_for_helpers.
_HOOK_MODULE = f"""package {_HOOK};
use Mail::SpamAssassin;
my $new = \\&Mail::SpamAssassin::new;
no warnings 'redefine';
*Mail::SpamAssassin::new = sub {{
    my ($class, $options) = @_;
    $options->{{home_dir_for_helpers}} = '@HOME@';
    return $new->($class, $options);
}};
1;
"""


class SpamCheckError(DigestError):
    """SpamAssassin is missing, failed or gave no report."""

    hint = "digest lint --no-spam leaves the spam check out"


@dataclass(frozen=True)
class SpamRule:
    score: float
    name: str
    description: str


@dataclass(frozen=True)
class SpamReport:
    score: float
    required: float
    rules: tuple[SpamRule, ...]


def spamassassin_path() -> str | None:
    """The ``spamassassin`` program on ``PATH``, or None."""
    return shutil.which("spamassassin")


def check_spam(raw: bytes, *, timeout: float = 60) -> SpamReport:
    """SpamAssassin's verdict on the message ``raw``, local tests only."""
    program = spamassassin_path()
    if program is None:
        raise SpamCheckError(NOT_INSTALLED)
    with tempfile.TemporaryDirectory(prefix="verdict-spamcheck-") as home:
        prefs = Path(home, "user_prefs")
        prefs.write_text("# empty: site rules and scores only\n", encoding="ascii")
        Path(home, f"{_HOOK}.pm").write_text(_hook_module(home), encoding="utf-8")
        command = [
            *_interpreter(program),
            f"-I{home}",
            f"-M{_HOOK}",
            program,
            "--local",
            "--test-mode",
            "--nocreate-prefs",
            f"--prefspath={prefs}",
            "--cf=use_bayes 0",
            "--cf=bayes_auto_learn 0",
        ]
        environment = {**os.environ, "HOME": home, "TMPDIR": home, "LC_ALL": "C.UTF-8"}
        try:
            done = subprocess.run(
                command, input=raw, capture_output=True, timeout=timeout, env=environment
            )
        except subprocess.TimeoutExpired:
            raise SpamCheckError(f"SpamAssassin took longer than {timeout:g} s") from None
        except OSError as error:
            raise SpamCheckError(f"SpamAssassin could not be run ({program}): {error}") from None
    if done.returncode != 0:
        raise SpamCheckError(
            f"SpamAssassin failed (exit {done.returncode}): {_first_words(done.stderr)}"
        )
    return parse_report(done.stdout.decode("utf-8", "replace"))


def parse_report(output: str) -> SpamReport:
    """The report ``spamassassin -t`` appends to the message in ``output``.

    Its last one is read: the message itself may quote such a report, and a
    spam verdict also repeats it in the wrapper's body.
    """
    found = list(_DETAILS.finditer(output))
    if not found:
        raise SpamCheckError("SpamAssassin printed no report ('Content analysis details')")
    details = found[-1]
    rules: list[SpamRule] = []
    lines = output[details.end() :].splitlines()
    # The table starts after its header and dashes and ends at a blank line.
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("----")), len(lines))
    for line in lines[start:]:
        if not line.strip():
            break
        if _CONTINUED.match(line) and rules:
            last = rules[-1]
            description = f"{last.description} {line.strip()}".strip()
            rules[-1] = SpamRule(last.score, last.name, description)
        elif rule := _RULE.match(line):
            rules.append(SpamRule(float(rule[1]), rule[2], rule[3].strip()))
    return SpamReport(float(details[1]), float(details[2]), tuple(rules))


def spam_findings(report: SpamReport | None) -> list[Finding]:
    """One finding for ``report``: an error at or above the required score, a
    warning from half of it, info below; None (not installed) is info."""
    if report is None:
        return [Finding(Level.INFO, "spam", NOT_INSTALLED)]
    if report.score >= report.required:
        level = Level.ERROR
    elif report.score >= report.required / 2:
        level = Level.WARNING
    else:
        level = Level.INFO
    scored = ", ".join(f"{rule.name} {rule.score:g}" for rule in report.rules if rule.score)
    message = (
        f"SpamAssassin {report.score:.1f} ({report.required:.1f} required): "
        f"{scored or 'no rule scored'}"
    )
    return [Finding(level, "spam", message)]


def _interpreter(program: str) -> list[str]:
    """The Perl and its switches from ``program``'s ``#!`` line (``-T`` there
    must be repeated on perl's command line)."""
    try:
        with open(program, "rb") as file:
            first = file.readline(200).decode("utf-8", "replace")
    except OSError as error:
        raise SpamCheckError(f"{program}: cannot be read: {error}") from None
    words = first[2:].split() if first.startswith("#!") else []
    if not words or not Path(words[0]).name.startswith("perl"):
        raise SpamCheckError(f"{program}: not SpamAssassin's Perl script (no #! perl line)")
    return words


def _hook_module(home: str) -> str:
    """The Perl module, naming ``home`` in a literal (taint mode accepts it)."""
    return _HOOK_MODULE.replace("@HOME@", home.replace("\\", "\\\\").replace("'", "\\'"))


def _first_words(stderr: bytes) -> str:
    text = " ".join(stderr.decode("utf-8", "replace").split())
    return (text[:_STDERR_SHOWN] + "…" if len(text) > _STDERR_SHOWN else text) or "no message"


def spam_check_findings(raw: bytes) -> list[Finding]:
    """SpamAssassin's findings on ``raw`` (info when it is not installed); a
    check that fails is a warning saying why, never the end of the lint."""
    if spamassassin_path() is None:
        return spam_findings(None)
    try:
        return spam_findings(check_spam(raw))
    except SpamCheckError as error:
        return [Finding(Level.WARNING, "spam", str(error))]
    except Exception as error:  # a lint reports, whatever went wrong in the check
        return [Finding(Level.WARNING, "spam", f"SpamAssassin failed: {error}")]
