"""How much of a feed's untrusted text the store keeps, and a message quotes.

Each limit is a column's declared length, read from the models, so the limits
here follow them. Control characters are refused in links, guids and HTTP
validators, and cut from every quote of untrusted text.
"""

from __future__ import annotations

import re

from worker.store.models import Base, Feed, Tool

# C0 and C1 controls: no link or guid has them, and PostgreSQL refuses NUL.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _length(model: type[Base], column: str) -> int:
    """A String column's declared length, so the limits here follow the models."""
    return int(model.__table__.c[column].type.length)


FEED_URL_MAX = _length(Feed, "url")
ETAG_MAX = _length(Feed, "etag")
LAST_MODIFIED_MAX = _length(Feed, "last_modified")
LINK_MAX = min(_length(Tool, "url"), _length(Tool, "guid"), _length(Tool, "canonical_url"))
NAME_MAX = _length(Tool, "name")
VENDOR_MAX = _length(Tool, "vendor")
CATEGORY_MAX = min(_length(Tool, "category"), _length(Feed, "category"))
TITLE_MAX = _length(Feed, "title")
PRICE_MAX = _length(Tool, "entry_price")
# Shorter than the column: a tagline is one line under the name in the email.
TAGLINE_MAX = min(200, _length(Tool, "tagline"))
LABEL_MAX = 80  # how much of an entry's guid or link a warning quotes


def label(text: str) -> str:
    """Untrusted ``text`` cut short, on one line, to quote in a message."""
    text = CONTROL.sub(" ", text).strip()
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"
