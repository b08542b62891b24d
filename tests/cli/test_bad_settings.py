"""Every everyday command under every bad setting: a short message naming
the setting, exit status 1, no traceback, no secret (issue 13)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.commands import digest
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.store import make_engine, upgrade

SECRET = "s3cret-Pw-7781"

#: (variable, value): each a mistake an operator makes.
BAD_SETTINGS = [
    ("DATABASE_URL", "garbage"),
    ("DATABASE_URL", f"mysql://digest:{SECRET}@127.0.0.1/digest"),
    ("DATABASE_URL", f"postgresql://digest:{SECRET}@127.0.0.1:9/digest"),
    ("DATABASE_URL", "postgresql://digest@127.0.0.1:5432/test?no_such_option=1"),
    ("DATABASE_URL", "sqlite:///{store}?no_such_option=1"),
    ("MAIL_URL", "carrier-pigeon://loft"),
    ("MAIL_URL", f"smtp://digest:{SECRET}@ss/word@127.0.0.1:2525"),
    ("MAIL_URL", f"smtp://digest:{SECRET}@x@127.0.0.1:2525"),
    ("DIGEST_TIMEZONE", "Mars/Olympus_Mons"),
    ("DIGEST_SEND_AT", "someday 25:00"),
    ("DIGEST_BUILD_AT", "0 9 * *"),
    ("INGEST_EVERY", "hourly"),
]

EVERYDAY = [
    ["status"],
    ["send", "--week", "2026-W48"],
    ["build", "--week", "2026-W48"],
    ["tick"],
    ["worker", "--once"],
    ["ingest"],
    ["import", str(PROJECT_ROOT / "sample" / "content.yaml")],
    ["subscribers", "stats"],
    ["subscribers", "add", "reader@example.com"],
    ["subscribers", "export", "-"],
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "digest.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.mark.parametrize("args", EVERYDAY, ids=lambda args: " ".join(args[:2]))
@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS, ids=lambda v: str(v)[:30])
def test_a_bad_setting_is_one_short_line_naming_it(
    store: Path, args: list[str], variable: str, value: str
) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{store}",
        "MAIL_URL": "memory://",
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": "bad-settings-test-key",
        "FEEDS_FILE": str(PROJECT_ROOT / "sample" / "feeds.toml"),
        variable: value.format(store=store),
    }
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3 and lines[0].startswith(f"error: {variable}"), output
    assert "Traceback" not in output
    assert SECRET not in output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["import", "/no/such/content.yaml"], "/no/such/content.yaml"),
        (["subscribers", "import", "/no/such/list.csv"], "/no/such/list.csv"),
        (["ingest", "--feeds", "/no/such/feeds.toml"], "/no/such/feeds.toml"),
    ],
)
def test_a_missing_input_file_is_one_line_naming_it(
    store: Path, args: list[str], named: str
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{store}", "MAIL_URL": "memory://"}
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert named in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_web_on_a_taken_port_says_so_once_and_nothing_else(store: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{store}", "MAIL_URL": "memory://"}
        done = digest(env, "web", "--port", str(port), timeout=60)
    assert done.returncode == 1
    assert "subscriber pages at" not in done.stdout
    first, *rest = done.stderr.strip().splitlines()
    assert first == (
        f"error: --host 127.0.0.1 --port {port}: cannot listen there: Address already in use"
    )
    assert len(rest) <= 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args", [["lint"], ["status"], ["subscribers", "stats"], ["worker", "--once"], ["tick"]]
)
def test_a_missing_sqlite_store_is_named_and_never_created(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "verdict-digest.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{missing}", "MAIL_URL": "memory://"}
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: DATABASE_URL: no store at {missing}; nothing was created"
    )
    assert "--sample" in result.stderr
    assert not missing.exists()
