"""A reader's time zone (worker/domain/zones.py): names of the IANA
database, spelt as it spells them, and the list a person picks from."""

from __future__ import annotations

import zoneinfo

import pytest

from worker.domain.zones import NOT_A_READERS_ZONE, reader_zone, zone_groups


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Asia/Singapore", "Asia/Singapore"),
        (" america/los_angeles ", "America/Los_Angeles"),
        ("PACIFIC/KIRITIMATI", "Pacific/Kiritimati"),
        ("US/Pacific", "US/Pacific"),  # an old name the database still has
        ("Etc/GMT+5", "Etc/GMT+5"),
        ("utc", "UTC"),
        ("", None),
        ("   ", None),
    ],
)
def test_a_zone_is_spelt_as_the_database_spells_it(given: str, stored: str | None) -> None:
    assert reader_zone(given) == stored


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("Mars/Olympus", "'Mars/Olympus' is not a time zone of the IANA database"),
        ("Etc/Unknown", "'Etc/Unknown' is not"),  # what Chrome says when it cannot tell
        ("localtime", "'localtime' is not"),  # the server's own zone
        ("Factory", "'Factory' is not"),
        ("../../etc/passwd", "'../../etc/passwd' is not"),
        ("+08:00", "'+08:00' is not"),
        ("Europe/" + "x" * 100, f"'Europe/{'x' * 33}…' is not"),
    ],
)
def test_any_other_name_is_refused_saying_so(given: str, says: str) -> None:
    with pytest.raises(ValueError, match="^" + says.replace("+", r"\+").replace(".", r"\.")):
        reader_zone(given)


def test_the_zones_offered_are_the_regions_then_utc_each_one_a_zone() -> None:
    groups = dict(zone_groups())
    assert list(groups)[:3] == ["Africa", "America", "Antarctica"]
    assert list(groups)[-1] == "UTC" and groups["UTC"] == ("UTC",)
    offered = [zone for zones in groups.values() for zone in zones]
    assert len(offered) == len(set(offered)) > 300
    assert {"Europe/Berlin", "Asia/Singapore", "Pacific/Kiritimati"} <= set(offered)
    assert not NOT_A_READERS_ZONE & set(offered)
    for region, zones in groups.items():
        assert list(zones) == sorted(zones)
        assert all(zone.startswith(region) for zone in zones)
        assert all(reader_zone(zone) == zone for zone in zones)
    assert set(offered) <= zoneinfo.available_timezones()
