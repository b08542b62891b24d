"""What the lint says of the editor's own words, which the composed message
cannot tell: the intro's length, its links' names and its images' alt text
(at the edition file's lines), a subject that repeats last week's, and the
items the edition file names that the week no longer has.
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.domain import markdown
from worker.domain.editorial import EditionFile
from worker.domain.words import plural
from worker.editor.lint.rules import Finding, Level

#: Past this many words an intro pushes the first verdict table below the
#: fold on a phone; readers open the digest for the verdicts.
INTRO_WORDS = 150
# Link texts that say nothing out of context (a screen reader lists links by
# their text; so do people skimming).
VAGUE_LINK_TEXTS = frozenset(
    {"here", "click here", "this", "link", "this link", "more", "read more", "click"}
)


def editorial_findings(
    edition_file: EditionFile | None,
    subject: str,
    previous_subject: str | None,
    missing: Sequence[Finding],
) -> list[Finding]:
    """The findings on the week's edition file and subject: ``subject`` is
    the message's, ``previous_subject`` last week's edition's (None when
    there was none), ``missing`` the findings on the items the file names
    that the week does not have (:func:`worker.domain.editorial.unknown_items`)."""
    found = list(missing)
    if previous_subject and _same(subject, previous_subject):
        found.append(
            Finding(
                Level.WARNING,
                "subject",
                f"the subject is last week's too: “{subject}”; readers skip what looks read",
            )
        )
    if edition_file is not None and edition_file.intro:
        found += _intro(edition_file)
    return found


def _intro(edition_file: EditionFile) -> list[Finding]:
    outline = markdown.outline(edition_file.intro)

    def place(line: int) -> str:
        return f"{edition_file.name}:{edition_file.intro_line + line - 1}"

    found = []
    if outline.words > INTRO_WORDS:
        found.append(
            Finding(
                Level.WARNING,
                "intro",
                f"the intro is {outline.words} words; past {INTRO_WORDS} it pushes the first "
                "verdict table below the fold on a phone",
            )
        )
    for line, text, href in outline.links:
        if not text:
            found.append(
                Finding(Level.WARNING, "intro", f"{place(line)}: a link without text: {href}")
            )
        elif text.casefold().strip(" .!") in VAGUE_LINK_TEXTS:
            found.append(
                Finding(
                    Level.WARNING,
                    "intro",
                    f"{place(line)}: the link text “{text}” says nothing out of context: "
                    f"name where it goes ({href})",
                )
            )
    for line, alt, src in outline.images:
        if not alt.strip():
            found.append(
                Finding(
                    Level.WARNING,
                    "intro",
                    f"{place(line)}: an image without alt text ({src}): write ![what it shows](…), "
                    "shown when images are off",
                )
            )
    words, links = plural(outline.words, "word"), plural(len(outline.links), "link")
    found.append(Finding(Level.INFO, "intro", f"the intro is {words}, {links}"))
    return found


def _same(one: str, other: str) -> bool:
    return " ".join(one.casefold().split()) == " ".join(other.casefold().split())
