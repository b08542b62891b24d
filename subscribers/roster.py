"""The subscriber list: validated addresses, names and category choices.

Consent matters more than convenience here: nothing in this module turns an
unsubscribed or bounced address back into a confirmed one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.domain.segments import CATEGORY_SEPARATOR, segment_categories, segment_key
from worker.domain.zones import reader_zone
from worker.errors import DigestError
from worker.store.models import Tool

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
EMAIL_LIMIT = 320  # RFC 5321's path limit, and subscriber.email's length
NAME_LIMIT = 200
CATEGORY_LIMIT = 100
MAX_CATEGORIES = 20


class InvalidField(DigestError):
    """One field of a subscriber is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str, *, hint: str = "") -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}", hint=hint)


@dataclass(frozen=True)
class Candidate:
    """A validated would-be subscriber, not yet stored."""

    email: str
    name: str | None
    categories: str  # segment key
    timezone: str | None = None  # None: DIGEST_TIMEZONE


def normalise_email(raw: str) -> str:
    """The address as stored: syntax-checked (no DNS), an international
    domain in its ASCII (IDNA) form, lowercased so one person is one row.

    A non-ASCII local part would need SMTPUTF8 from every relay on the way;
    such an address is refused with that reason rather than failing at send.
    """
    raw = raw.strip()
    if len(raw) > EMAIL_LIMIT:
        raise InvalidField("email", f"is {len(raw)} characters long; the limit is {EMAIL_LIMIT}")
    if CONTROL.search(raw):
        raise InvalidField("email", "contains control characters")
    try:
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidField("email", f"{raw!r} is not a valid address: {error}") from None
    return (checked.ascii_email or checked.normalized).lower()


def lookup_form(raw: str) -> str:
    """The form of an address to look up in the store: normalised when it is
    valid, else stripped and lowercased, since an address that reached the
    store some other way (or that a bounce quotes) may not be valid now."""
    try:
        return normalise_email(raw)
    except InvalidField:
        return raw.strip().strip("<>").strip().lower()[:EMAIL_LIMIT]


def clean_name(raw: str | None) -> str | None:
    """A display name on one line, or None; CR/LF and controls are refused."""
    if raw is None or not raw.strip():
        return None
    name = raw.strip()
    if CONTROL.search(name):
        raise InvalidField("name", "must be one line (no line breaks or control characters)")
    if "<" in name or ">" in name:
        # Markup, or an address posing as a name ("Ada <ceo@bank.example>").
        raise InvalidField("name", "must not contain '<' or '>'")
    if "=?" in name:
        # An RFC 2047 encoded word: a To header would decode it into
        # whatever it hides (another address, line breaks).
        raise InvalidField("name", "must not contain '=?'")
    if len(name) > NAME_LIMIT:
        raise InvalidField("name", f"is {len(name)} characters long; the limit is {NAME_LIMIT}")
    return name


def clean_timezone(raw: str | None) -> str | None:
    """A reader's IANA time zone as the database spells it, or None (blank:
    the list's zone, ``DIGEST_TIMEZONE``); any other name is refused."""
    try:
        return reader_zone(raw or "")
    except ValueError as error:
        raise InvalidField("timezone", str(error)) from None


def clean_categories(raw: Iterable[str]) -> str:
    """The segment key for a list of category names, each checked."""
    chosen = [c.strip() for c in raw if c and c.strip()]
    for category in chosen:
        if CONTROL.search(category) or CATEGORY_SEPARATOR in category or "<" in category:
            raise InvalidField("categories", f"{category[:40]!r} is not a category name")
        if len(category) > CATEGORY_LIMIT:
            raise InvalidField("categories", f"a category is longer than {CATEGORY_LIMIT}")
    if len(set(chosen)) > MAX_CATEGORIES:
        raise InvalidField("categories", f"more than {MAX_CATEGORIES} categories")
    return segment_key(chosen)


def offered_choice(chosen: Iterable[str], known: list[str]) -> str:
    """The segment key of categories a reader ``chosen`` among the ``known``
    ones offered (:func:`known_categories`); raises :class:`InvalidField`
    for any other."""
    chosen = list(chosen)
    for category in chosen:
        if category not in known:
            raise InvalidField("categories", f"{category[:40]!r} is not one of our categories")
    return clean_categories(chosen)


def choosable(category: str) -> bool:
    """Whether a subscriber can choose ``category`` as it is stored: a
    segment key holds it unchanged (no ``|``, which separates a key's
    names; no control characters or ``<``; trimmed; not too long)."""
    try:
        return clean_categories([category]) == category
    except InvalidField:
        return False


def known_categories(session: Session) -> list[str]:
    """The categories a reader may choose: those of the tools we cover that
    a choice can hold (:func:`choosable`). A tool of another category (a
    feed's ``Design|Research``) reaches the readers of every category only."""
    found = session.scalars(
        select(Tool.category).where(Tool.category.is_not(None)).distinct().order_by(Tool.category)
    )
    return [category for category in found if choosable(category)]


@dataclass(frozen=True)
class CategoryCheck:
    """An operator's category choice (``digest subscribers add``, an import)
    checked against ``known`` (:func:`known_categories`) and the ``new``
    names the operator accepts ahead of any tool of theirs.

    A name matches whatever its case, as an edition's segments match tools
    (:func:`worker.domain.segments.digest_for_segment`), and is stored as
    the store spells it. While no tool has a category there is nothing to
    check against, so every name is kept as given: a list can be seeded
    before its first ingest (:meth:`untooled` says which names no tool has).
    """

    known: tuple[str, ...]
    new: tuple[str, ...] = ()

    @classmethod
    def of(cls, session: Session, new: Iterable[str] = ()) -> CategoryCheck:
        """The check against the store's categories, accepting ``new`` too."""
        return cls(tuple(known_categories(session)), tuple(c.strip() for c in new if c.strip()))

    def checked(self, key: str) -> str:
        """Segment ``key`` with each name spelled as the store spells it;
        raises :class:`InvalidField` for a name no tool has (unless named new,
        or no tool has a category yet)."""
        spelling = {name.casefold(): name for name in (*self.new, *self.known)}
        names = []
        for name in segment_categories(key):
            found = spelling.get(name.casefold())
            if found is None and self.known:
                close = difflib.get_close_matches(name.casefold(), list(spelling), n=1)
                guess = f" (did you mean {spelling[close[0]]!r}?)" if close else ""
                raise InvalidField(
                    "categories",
                    f"no tool has the category {name[:40]!r}{guess}",
                    hint=f"the categories: {', '.join(self.known)}; "
                    "--new-category NAME accepts one before any tool has it",
                )
            names.append(found or name)
        return segment_key(names)

    def untooled(self, key: str) -> list[str]:
        """The names in segment ``key`` that no tool has (yet)."""
        known = {name.casefold() for name in self.known}
        return [name for name in segment_categories(key) if name.casefold() not in known]


def candidate(
    email: str,
    name: str | None = None,
    categories: Iterable[str] = (),
    check: CategoryCheck | None = None,
    timezone: str | None = None,
) -> Candidate:
    """Validate one would-be subscriber, their categories by ``check`` when
    given; raises :class:`InvalidField`."""
    key = clean_categories(categories)
    return Candidate(
        normalise_email(email),
        clean_name(name),
        check.checked(key) if check else key,
        clean_timezone(timezone),
    )


def merge_categories(first: str, second: str) -> str:
    """The union of two category choices; "every category" absorbs the rest."""
    if not first or not second:
        return ""
    return segment_key([*segment_categories(first), *segment_categories(second)])
