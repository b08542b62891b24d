"""Subscriber CSV import: validation by line, merging, consent kept, and the
defusing of spreadsheet formulas undone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvexport import EXPORT_FIELDS
from subscribers.csvio import COLUMNS, defused, import_csv, undefused
from subscribers.roster import merge_categories
from tests.support.subscribers import tools_of
from worker.config import PROJECT_ROOT
from worker.domain.states import SubscriberStatus
from worker.errors import InputError
from worker.store.models import Subscriber, Suppression


def stored(sessions: sessionmaker[Session]) -> dict[str, Subscriber]:
    with sessions() as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


def suppressed(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(Suppression.email)))


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_subscribers_import(sessions: sessionmaker[Session]) -> None:
    report = import_csv(sessions, PROJECT_ROOT / "sample" / "subscribers.csv")
    assert report.rejected == []
    people = stored(sessions)
    assert report.added == len(people) == 8
    assert people["zoe@example.org"].name == "Zoë Ångström"
    assert people["zoe@example.org"].categories == "Design|Productivity"
    assert people["ada@example.com"].categories == ""
    assert all(p.status == SubscriberStatus.CONFIRMED and p.confirmed_at for p in people.values())


def test_bad_rows_are_reported_by_line_and_the_good_ones_kept(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    long_name = "x" * 10_001
    path = write(
        tmp_path,
        "Email,Name,Categories\n"
        "good@example.com,Good,\n"  # line 2
        "not-an-address,Bad,\n"  # line 3
        '"evil@example.com","Eve\r\nBcc: victim@example.com",\n'  # lines 4-5
        f"long@example.com,{long_name},\n"  # line 6
        "cat@example.com,Cat,<script>alert(1)</script>\n"  # line 7
        "extra@example.com,Extra,Design,surplus\n"  # line 8
        "also-good@EXAMPLE.com,Also Good,Design\n"  # line 9
        "spoof@example.com,=?utf-8?q?Eve_=3Cceo=40bank=2Eexample=3E?=,\n",  # line 10
    )
    report = import_csv(sessions, path)
    rejected = "\n".join(report.rejected)
    assert f"{path}:3: email: 'not-an-address' is not a valid address" in rejected
    assert (
        f"{path}:4: name: a quoted value runs on to line 5 (is a closing quote missing?); "
        "lines 4-5 are not imported"
    ) in rejected
    assert f"{path}:6: name: longer than 10000 characters" in rejected
    assert f"{path}:7: categories:" in rejected
    assert f"{path}:8: more fields than the header names" in rejected
    assert f"{path}:10: name: must not contain '=?'" in rejected
    assert len(report.rejected) == 6
    assert set(stored(sessions)) == {"good@example.com", "also-good@example.com"}


def test_international_domains_are_stored_in_ascii_and_utf8_local_parts_refused(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write(tmp_path, "email\nAda@Bücher.example\njosé@example.com\n")
    report = import_csv(sessions, path)
    assert set(stored(sessions)) == {"ada@xn--bcher-kva.example"}
    (refusal,) = report.rejected
    assert refusal.startswith(f"{path}:3: email: 'josé@example.com' is not a valid address")
    assert "Internationalized characters before the @-sign" in refusal


def test_duplicates_merge_within_the_file_and_the_store_keeps_its_choices(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = write(tmp_path, "email,name,categories\nsam@example.com,,Design\n", "a.csv")
    import_csv(sessions, first)
    second = write(
        tmp_path,
        "email,categories,name\n"
        "SAM@example.com,Productivity,Sam\n"
        "sam@example.com,Data & Analytics,Samuel\n",
        "b.csv",
    )
    third = write(tmp_path, "email,categories\nnew@example.com,Design\nnew@example.com,\n", "c.csv")
    report = import_csv(sessions, second)
    assert (report.added, report.merged) == (0, 2)
    sam = stored(sessions)["sam@example.com"]
    assert sam.name == "Sam"  # a missing name is filled in
    assert sam.categories == "Design"  # the subscriber's choice stands
    import_csv(sessions, third)
    assert stored(sessions)["new@example.com"].categories == ""  # blank: every category


def test_a_readers_time_zone_is_read_checked_and_fills_a_gap(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as session:
        session.add_all(
            [
                Subscriber(email="zoned@example.com", status="confirmed", timezone="Europe/Paris"),
                Subscriber(email="unzoned@example.com", status="confirmed"),
            ]
        )
    path = write(
        tmp_path,
        "email,timezone\n"
        "sg@example.com,asia/singapore\n"  # line 2: spelt as the database spells it
        "mars@example.com,Mars/Olympus\n"  # line 3
        "server@example.com,localtime\n"  # line 4: the server's zone, no reader's
        "blank@example.com, \n"  # line 5: the list's zone
        "zoned@example.com,Asia/Tokyo\n"  # the reader's choice stands
        "unzoned@example.com,America/Los_Angeles\n"  # a missing zone is filled in
        "twice@example.com,\n"
        "twice@example.com,Pacific/Kiritimati\n",  # merged: the first zone given
    )
    report = import_csv(sessions, path)
    assert report.rejected == [
        f"{path}:3: timezone: 'Mars/Olympus' is not a time zone of the IANA database "
        "(like Europe/Berlin)",
        f"{path}:4: timezone: 'localtime' is not a time zone of the IANA database "
        "(like Europe/Berlin)",
    ]
    zones = {email: s.timezone for email, s in stored(sessions).items()}
    assert zones == {
        "sg@example.com": "Asia/Singapore",
        "blank@example.com": None,
        "zoned@example.com": "Europe/Paris",
        "unzoned@example.com": "America/Los_Angeles",
        "twice@example.com": "Pacific/Kiritimati",
    }


def test_import_never_resubscribes_someone_who_left(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as session:
        session.add(Subscriber(email="gone@example.com", status=SubscriberStatus.UNSUBSCRIBED))
    import_csv(sessions, write(tmp_path, "email\ngone@example.com\n"))
    assert stored(sessions)["gone@example.com"].status == SubscriberStatus.UNSUBSCRIBED


def refused(sessions: sessionmaker[Session], path: Path) -> InputError:
    """The error refusing ``path`` as a whole, having stored nothing."""
    with pytest.raises(InputError) as caught:
        import_csv(sessions, path)
    assert stored(sessions) == {}
    assert caught.value.source == str(path)
    return caught.value


def test_a_file_that_cannot_be_read_is_refused_whole(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    missing = refused(sessions, tmp_path / "missing.csv")
    assert missing.problems == ["cannot read: No such file or directory"]
    assert missing.hint == "nothing was imported"
    assert refused(sessions, tmp_path).problems == ["cannot read: Is a directory"]
    empty = write(tmp_path, "", "empty.csv")
    assert refused(sessions, empty).problems == [f"{empty}:1: no header row (the file is empty)"]
    blank = write(tmp_path, "\nemail\na@example.com\n", "blank.csv")
    assert refused(sessions, blank).problems == [f"{blank}:1: no header row (line 1 is blank)"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name,catégories\na@example.com,Zoë,\n".encode("latin-1"))
    assert refused(sessions, latin).problems == [f"{latin}:1: not UTF-8 text (byte 15)"]


def test_a_header_without_email_or_with_unknown_columns_is_refused_naming_them(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write(tmp_path, "name\nNobody\n")
    assert refused(sessions, path).problems == [
        f"{path}:1: no 'email' column (the header reads 'name')"
    ]
    path = write(tmp_path, "Emial,Name,catgories,Zone\na@example.com,A,Design,UTC\n")
    error = refused(sessions, path)
    assert error.problems == [
        f"{path}:1: no 'email' column (the header reads 'Emial,Name,catgories,Zone')",
        f"{path}:1: column 1, 'emial', is not one an import reads (did you mean 'email'?)",
        f"{path}:1: column 3, 'catgories', is not one an import reads (did you mean 'categories'?)",
        f"{path}:1: column 4, 'zone', is not one an import reads (did you mean 'timezone'?)",
    ]
    assert error.hint == (
        "the columns an import reads: email, name, categories, status, suppressed, "
        "created_at, confirmed_at, unsubscribed_at, paused_until, timezone; nothing was imported"
    )
    path = write(tmp_path, "email,favourite\na@example.com,Design\n")
    assert refused(sessions, path).problems == [
        f"{path}:1: column 2, 'favourite', is not one an import reads"
    ]
    path = write(tmp_path, "email,catgories\na@example.com,Design\n")  # email alone is not enough
    assert refused(sessions, path).problems == [
        f"{path}:1: column 2, 'catgories', is not one an import reads (did you mean 'categories'?)"
    ]
    path = write(tmp_path, "email,name,Email\na@example.com,A,b@example.com\n")
    assert refused(sessions, path).problems == [f"{path}:1: column 3, 'email', is there twice"]


def test_the_columns_an_import_reads_are_those_an_export_writes() -> None:
    assert sorted(COLUMNS) == sorted(EXPORT_FIELDS)


@pytest.mark.parametrize(
    ("delimiter", "text"),
    [
        (",", "email,name,categories\r\nzoe@example.org,Zoë,Design;Productivity\r\n"),
        (";", 'Email;Name;Categories\r\nzoe@example.org;"Zoë";"Design;Productivity"\r\n'),
        ("\t", "email\tname\tcategories\nzoe@example.org\tZoë\tDesign;Productivity\n"),
        ("|", "name|categories|email\nZoë|Design;Productivity|zoe@example.org\n"),
    ],
)
def test_the_delimiter_is_the_one_that_makes_email_a_column(
    sessions: sessionmaker[Session], tmp_path: Path, delimiter: str, text: str
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # as Excel saves "CSV UTF-8"
    report = import_csv(sessions, path)
    assert (report.delimiter, report.rejected, report.added) == (delimiter, [], 1)
    zoe = stored(sessions)["zoe@example.org"]
    assert (zoe.name, zoe.categories) == ("Zoë", "Design|Productivity")


def test_a_header_in_no_known_delimiter_is_named_as_read(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write(tmp_path, "Mail;Name\nada@example.com;Ada\n")
    assert refused(sessions, path).problems == [
        f"{path}:1: no 'email' column (the header reads 'Mail;Name')",
        f"{path}:1: column 1, 'mail', is not one an import reads (did you mean 'email'?)",
    ]


@pytest.mark.parametrize(
    ("tail", "end"),
    [("", 7), ('n@example.com,"N"\no@example.com,O\n', 8)],
    ids=["never closed", "closed by a later quote"],
)
def test_an_unclosed_quote_names_every_line_it_took(
    sessions: sessionmaker[Session], tmp_path: Path, tail: str, end: int
) -> None:
    path = write(
        tmp_path,
        "email,name\n"
        "h@example.com,H\n"
        "i@example.com,I\n"
        'j@example.com,"J\n'  # line 4: the quote is not closed
        "k@example.com,K\n"
        "l@example.com,L\n"
        f"m@example.com,M\n{tail}",
    )
    report = import_csv(sessions, path)
    assert report.rejected == [
        f"{path}:4: name: a quoted value runs on to line {end} (is a closing quote missing?); "
        f"lines 4-{end} are not imported"
    ]
    after = {"o@example.com"} if tail else set()  # rows are read again once the quote closes
    assert set(stored(sessions)) == {"h@example.com", "i@example.com", *after}


def test_categories_no_tool_has_are_refused_by_row_unless_named_new(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    tools_of(sessions, "Design", "Developer Tools", "Design|Research")
    path = write(
        tmp_path,
        "email,categories\n"
        "a@example.com,design;DEVELOPER TOOLS\n"  # spelled as the tools spell them
        "b@example.com,Robotix\n"
        "c@example.com,Design;Research\n"
        "d@example.com,Robotics;Design\n",
    )
    report = import_csv(sessions, path)
    assert report.rejected == [
        f"{path}:3: categories: no tool has the category 'Robotix'",
        f"{path}:4: categories: no tool has the category 'Research'",
        f"{path}:5: categories: no tool has the category 'Robotics'",
    ]
    assert report.hints == [
        "the categories: Design, Developer Tools; "
        "--new-category NAME accepts one before any tool has it"
    ]
    assert {e: p.categories for e, p in stored(sessions).items()} == {
        "a@example.com": "Design|Developer Tools"
    }
    again = import_csv(sessions, path, new_categories=["robotics"])
    assert len(again.rejected) == 2 and again.untooled == {"robotics"}
    assert stored(sessions)["d@example.com"].categories == "Design|robotics"
    typo = import_csv(sessions, write(tmp_path, "email,categories\ne@example.com,Dezign\n"))
    assert typo.rejected[0].endswith("no tool has the category 'Dezign' (did you mean 'Design'?)")


def test_before_any_tool_has_a_category_every_category_is_kept_as_given(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write(tmp_path, "email,categories\na@example.com,Robotics;Design\nb@example.com,\n")
    report = import_csv(sessions, path)
    assert (report.added, report.rejected, report.untooled) == (2, [], {"Design", "Robotics"})
    assert stored(sessions)["a@example.com"].categories == "Design|Robotics"


def test_everything_absorbs_narrower_choices() -> None:
    assert merge_categories("", "Design") == ""
    assert merge_categories("Design", "Productivity") == "Design|Productivity"


def test_a_suppressed_address_is_never_imported_as_confirmed(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as session:
        session.add_all(
            [
                Suppression(email="complainer@example.com", reason="complaint"),
                Suppression(email="dead@example.com", reason="hard_bounce"),
                Suppression(email="full@example.com", reason="soft_bounces"),
            ]
        )
    path = write(
        tmp_path,
        "email,status,suppressed\n"
        "complainer@example.com,confirmed,\n"  # suppressed in the store
        "dead@example.com,,\n"
        "full@example.com,pending,\n"
        "asked@example.com,confirmed,manual\n"  # suppressed by its row
        "gone@example.com,,unknown_user\n"
        "left@example.com,unsubscribed,hard_bounce\n"  # its row says it left
        "fine@example.com,,\n",
    )
    report = import_csv(sessions, path)
    people = stored(sessions)
    assert {email: person.status for email, person in people.items()} == {
        "complainer@example.com": "unsubscribed",
        "dead@example.com": "bounced",
        "full@example.com": "bounced",
        "asked@example.com": "unsubscribed",
        "gone@example.com": "bounced",
        "left@example.com": "unsubscribed",
        "fine@example.com": "confirmed",
    }
    assert all(p.confirmed_at is None for e, p in people.items() if e != "fine@example.com")
    assert people["complainer@example.com"].unsubscribed_at is not None
    assert report.rejected == []
    assert (report.added, report.suppressed) == (7, 3)
    assert report.held_back == [
        "complainer@example.com: suppressed (complaint); stored as unsubscribed",
        "dead@example.com: suppressed (hard_bounce); stored as bounced",
        "full@example.com: suppressed (soft_bounces); stored as bounced",
        "asked@example.com: suppressed (manual); stored as unsubscribed",
        "gone@example.com: suppressed (unknown_user); stored as bounced",
    ]
    with sessions() as session:
        held = {s.email: s.reason for s in session.scalars(select(Suppression))}
    assert held == {
        "complainer@example.com": "complaint",
        "dead@example.com": "hard_bounce",
        "full@example.com": "soft_bounces",
        "asked@example.com": "manual",
        "gone@example.com": "unknown_user",
        "left@example.com": "hard_bounce",
    }


def test_a_row_status_only_holds_a_new_subscriber_back(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "email,status,suppressed,confirmed_at\n"
        "a@example.com,confirmed,,\n"
        "b@example.com,unsubscribed,,2026-01-02T03:04:05\n"
        "c@example.com,Pending,,\n"
        "d@example.com,subscribed,,\n"  # line 5
        "e@example.com,,angry,\n"  # line 6
        "f@example.com,,,yesterday\n"  # line 7
        "a@example.com,bounced,manual,\n",
        encoding="utf-8",
    )
    report = import_csv(sessions, path, SubscriberStatus.PENDING)
    assert report.rejected == [
        f"{path}:5: status: 'subscribed' is not one of pending, confirmed, unsubscribed, bounced",
        f"{path}:6: suppressed: 'angry' is not one of unknown_user, hard_bounce, soft_bounces, "
        "complaint, manual",
        f"{path}:7: confirmed_at: 'yesterday' is not a date and time (ISO 8601)",
    ]
    assert (report.added, report.merged, report.suppressed) == (3, 1, 1)
    people = stored(sessions)
    assert people["a@example.com"].status == "bounced"  # the least subscribed of its rows
    assert people["b@example.com"].status == "unsubscribed"
    assert people["b@example.com"].confirmed_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert people["c@example.com"].status == "pending"
    assert suppressed(sessions) == {"a@example.com"}

    # A file never confirms anyone the operator imports as pending.
    later = tmp_path / "later.csv"
    later.write_text("email,status\nz@example.com,confirmed\n", encoding="utf-8")
    import_csv(sessions, later, SubscriberStatus.PENDING)
    assert stored(sessions)["z@example.com"].status == "pending"


def test_defusing_is_undone_exactly() -> None:
    for value in ("=1", "+1", "-1", "@a", "\tx", "\rx", "'", "''", "'=1", "'x", "x=1", ""):
        assert undefused(defused(value)) == value
    assert defused("'x") == "''x" and undefused("'x") == "'x"
