"""`digest subscribers import`: what it says it did, on both stores. A file
it cannot read is refused whole; bad rows are rejected by line and counted
beside the rows imported."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall, people
from tests.support.subscribers import tools_of


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_missing_file_is_one_error_and_nothing_said_imported(
    digest: CliRunnerCall, tmp_path: Path
) -> None:
    path = tmp_path / "missing.csv"
    done = digest("subscribers", "import", str(path))
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr == (
        f"error: {path}: 1 problem:\n"
        "  cannot read: No such file or directory\n"
        "hint: nothing was imported\n"
    )


def test_a_header_without_email_names_the_header_and_imports_nothing(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write(tmp_path, "mail,name\nada@example.com,Ada\n")
    done = digest("subscribers", "import", str(path))
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr.startswith(
        f"error: {path}: 2 problems:\n"
        f"  {path}:1: no 'email' column (the header reads 'mail,name')\n"
        f"  {path}:1: column 1, 'mail', is not one an import reads (did you mean 'email'?)\n"
        "hint: the columns an import reads: email, name, categories,"
    )
    assert done.stderr.endswith("; nothing was imported\n")
    assert "imported)" not in done.stderr and people(sessions) == {}


def test_rows_imported_and_rows_rejected_are_counted(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "email,name\n"
        "ok@example.com,Ok\n"
        "not-an-address,Bad\n"
        "OK@example.com,\n"  # the first row again: merged
        'open@example.com,"Open\n'  # line 5: the quote runs to the end
        "lost@example.com,Lost\n",
    )
    done = digest("subscribers", "import", str(path))
    assert (done.exit_code, done.stdout) == (
        1,
        f"{path}: 2 rows imported (1 added, 1 merged), 2 rejected\n",
    )
    assert done.stderr == (
        f"error: {path}: 2 problems:\n"
        f"  {path}:3: email: 'not-an-address' is not a valid address: An email address must "
        "have an @-sign.\n"
        f"  {path}:5: name: a quoted value runs on to line 6 (is a closing quote missing?); "
        "lines 5-6 are not imported\n"
        "hint: the other rows were imported; fix these and import the file again\n"
    )
    assert set(people(sessions)) == {"ok@example.com"}

    bad = write(tmp_path, "email\nnot-an-address\n")
    none = digest("subscribers", "import", str(bad))
    assert none.stdout == f"{bad}: 0 rows imported, 1 rejected\n"
    assert none.stderr.endswith("hint: no row was imported; fix these and import the file again\n")


def test_a_file_separated_by_semicolons_is_read_so_and_says_so(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    tools_of(sessions, "Design", "Productivity")
    path = tmp_path / "excel.csv"  # as Excel saves "CSV UTF-8" where "," is the decimal comma
    path.write_bytes(
        b"\xef\xbb\xbfEmail;Name;Categories\r\n"
        b'zoe@example.org;Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m;"Design;Productivity"\r\n'
        b"ada@example.com;Ada;\r\n"
    )
    done = digest("subscribers", "import", str(path))
    assert (done.exit_code, done.stdout) == (
        0,
        f"{path}: columns separated by semicolons\n{path}: 2 rows imported (2 added, 0 merged)\n",
    )
    zoe = people(sessions)["zoe@example.org"]
    assert (zoe.name, zoe.categories) == ("Zoë Ångström", "Design|Productivity")


def test_an_unknown_category_is_rejected_naming_the_known_ones(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    tools_of(sessions, "Design", "Robotics")
    path = write(tmp_path, "email,categories\nada@example.com,Design\nbo@example.com,Robotix\n")
    done = digest("subscribers", "import", str(path))
    assert (done.exit_code, done.stdout) == (
        1,
        f"{path}: 1 row imported (1 added, 0 merged), 1 rejected\n",
    )
    assert done.stderr == (
        f"error: {path}: 1 problem:\n"
        f"  {path}:3: categories: no tool has the category 'Robotix' (did you mean 'Robotics'?)\n"
        "hint: the other rows were imported; fix these and import the file again; "
        "the categories: Design, Robotics; --new-category NAME accepts one before any tool has it\n"
    )
    again = digest("subscribers", "import", str(path), "--new-category", "Robotix")
    assert (again.exit_code, again.stdout) == (
        0,
        f"{path}: 2 rows imported (1 added, 1 merged)\n"
        "note: no tool has the category Robotix yet: nothing of it is sent until one does\n",
    )
    assert people(sessions)["bo@example.com"].categories == "Robotix"
