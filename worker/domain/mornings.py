"""Each reader's morning: one wall-clock time, read in each reader's zone.

With ``DIGEST_SEND_LOCAL`` on, an edition's send time is a wall-clock date
and time (``tue 09:00`` on that Tuesday, as ``DIGEST_TIMEZONE`` reads the
send), and each reader gets it when their own clock shows it. The first
zone to reach any wall-clock time is UTC+14 (Pacific/Kiritimati), so an
edition starts then (:func:`first_morning`), and each zone's readers are
due at :func:`morning_in`.

Daylight saving as for the cron times (:mod:`worker.domain.cron`): a time a
spring-forward change skips comes as far after the change as it was meant
to be into the missing hour; a time a fall-back change repeats comes at its
first pass. Both are what ``fold=0`` gives.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: The furthest ahead of UTC any zone of the IANA database is (Pacific/Kiritimati).
EARLIEST_OFFSET = dt.timedelta(hours=14)


def wall_clock(send_at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The wall-clock date and time (naive) that ``send_at`` (aware) shows in ``zone``."""
    return send_at.astimezone(zone).replace(tzinfo=None, fold=0)


def morning_in(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """When the wall-clock time ``local`` (naive) comes in ``zone``, in UTC."""
    if local.tzinfo is not None:
        raise ValueError(f"{local!r}: a wall-clock time has no zone")
    return local.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)


def first_morning(local: dt.datetime) -> dt.datetime:
    """When the wall-clock time ``local`` (naive) first comes anywhere on
    earth (at UTC+14), in UTC."""
    if local.tzinfo is not None:
        raise ValueError(f"{local!r}: a wall-clock time has no zone")
    return (local - EARLIEST_OFFSET).replace(tzinfo=dt.UTC)


def known_zone(name: str) -> ZoneInfo | None:
    """The zone named ``name`` (IANA), or None when this machine's database
    has no such zone (a name stored by an older or newer tzdata)."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # a bad key, not found, a folder's name
        return None


def utc_offset(local: dt.datetime, due_at: dt.datetime) -> dt.timedelta:
    """The UTC offset of the readers who get the wall-clock time ``local``
    (naive) at ``due_at`` (aware): the wave's zone offset."""
    return local - due_at.astimezone(dt.UTC).replace(tzinfo=None)
