"""A reader's time zone: a name of the IANA database, as this machine has it.

A subscriber's zone (``subscriber.timezone``; none means ``DIGEST_TIMEZONE``)
comes from a browser (``Intl.DateTimeFormat().resolvedOptions().timeZone``),
a select on the preferences page, a CSV file or the CLI. :func:`reader_zone`
checks a name against :func:`zoneinfo.available_timezones` and spells it as
the database does (``asia/singapore`` is ``Asia/Singapore``);
:func:`zone_groups` is the list a person picks from.
"""

from __future__ import annotations

import functools
import zoneinfo

# Names the database holds that are no one's zone: the server's own zone
# (Debian's ``localtime`` link) and tzdata's placeholder for "not set yet".
NOT_A_READERS_ZONE = frozenset({"localtime", "Factory", "posixrules"})
# The regions whose zones the preferences page offers by name; the
# database's other names (``US/Pacific``, ``Etc/GMT+5``, ``Japan``) are old
# links or fixed offsets, accepted when given but not offered.
REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)
# Longer than any name in the database (the longest has 32 characters) and
# within subscriber.timezone's String(64).
ZONE_LIMIT = 64


@functools.cache
def _spellings() -> dict[str, str]:
    """Every zone's name, by its name in lower case."""
    names = zoneinfo.available_timezones() - NOT_A_READERS_ZONE
    return {name.lower(): name for name in names}


def reader_zone(name: str) -> str | None:
    """``name`` as the IANA database spells it, or None for a blank one
    (the list's zone); raises ValueError for any other name."""
    name = name.strip()
    if not name:
        return None
    found = _spellings().get(name.lower()) if len(name) <= ZONE_LIMIT else None
    if found is None:
        shown = name if len(name) <= 40 else f"{name[:40]}…"
        raise ValueError(f"{shown!r} is not a time zone of the IANA database (like Europe/Berlin)")
    return found


@functools.cache
def zone_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The zones a person picks from, by region (``("Europe",
    ("Europe/Amsterdam", …))``), then ``UTC`` on its own."""
    names = sorted(_spellings().values())
    groups = tuple(
        (region, tuple(name for name in names if name.startswith(f"{region}/")))
        for region in REGIONS
    )
    return (*groups, ("UTC", ("UTC",)))
