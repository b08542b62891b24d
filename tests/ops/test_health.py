"""Probes of what the worker depends on: the store behind ``/healthz`` (on
both stores), and the mail backend of each kind, against real servers."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from tests.support.httpserver import serving
from tests.support.opsworld import client_for
from worker.config import Settings
from worker.ops.health import head_revision, probe_mail
from worker.store import CONNECT_TIMEOUT, MIGRATIONS, make_engine, session_factory, upgrade

# /healthz


def test_healthz_answers_ok_on_a_migrated_store(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    answer = client_for(settings, sessions).get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_on_a_store_without_schema(settings: Settings, tmp_path: Path) -> None:
    empty = session_factory(make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    answer = client_for(settings, empty).get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "error",
        "problems": ["the store has no schema; run: digest db upgrade"],
    }


def test_healthz_answers_503_on_a_schema_behind_the_code(
    settings: Settings, tmp_path: Path
) -> None:

    previous = ScriptDirectory(str(MIGRATIONS)).get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(engine, previous)
    answer = client_for(settings, session_factory(engine)).get("/healthz")
    assert answer.status_code == 503
    [problem] = answer.get_json()["problems"]
    assert problem == (
        f"the schema is at revision {previous}, this code expects {head_revision()}; "
        "run: digest db upgrade"
    )


def test_healthz_stays_ok_on_a_store_migrated_by_a_newer_release(
    settings: Settings, tmp_path: Path
) -> None:

    engine = make_engine(f"sqlite:///{tmp_path / 'newer.sqlite3'}")
    upgrade(engine)
    with engine.begin() as connection:
        # What the next release's `digest db upgrade` leaves before this
        # (old) web process is replaced.
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    answer = client_for(settings, session_factory(engine)).get("/healthz")
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://digest:unreachable-pass-31@127.0.0.1:1/test",
        "sqlite:////nonexistent-directory/store.sqlite3",
    ],
)
def test_healthz_answers_503_on_an_unreachable_store_and_names_no_secret(
    settings: Settings, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client_for(settings, session_factory(make_engine(url))).get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "error", "problems": ["the store is unreachable"]}
    assert "unreachable-pass-31" not in answer.get_data(as_text=True) + caplog.text
    said = [r for r in caplog.records if r.getMessage() == "health check failed"]
    assert said and said[0].error  # type: ignore[attr-defined]  # the driver's words, logged


def connect_parameters(url: str) -> dict[str, object]:
    """What make_engine's engine for ``url`` hands the driver on connecting."""
    engine = make_engine(url)
    seen: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def record(_dialect: object, _record: object, _args: object, params: dict) -> None:
        seen.update(params)

    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    return seen


def test_a_postgresql_engine_gives_up_connecting_after_a_timeout(pg_engine: Engine) -> None:
    # Without one, /healthz, the clock and a stopping worker hang for about
    # two minutes on a host that drops packets.
    url = pg_engine.url.render_as_string(hide_password=False)
    assert connect_parameters(url)["connect_timeout"] == CONNECT_TIMEOUT
    assert connect_parameters(f"{url}&connect_timeout=3")["connect_timeout"] == "3"


# The mail backend


class PostmarkServer(BaseHTTPRequestHandler):
    token = "pm-server-token-0042"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        good = self.path == "/server" and self.headers["X-Postmark-Server-Token"] == self.token
        self.send_response(200 if good else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"Name": "digest"}' if good else b'{"ErrorCode": 10}')


@pytest.fixture
def postmark_port() -> Iterator[int]:
    with serving(PostmarkServer) as port:
        yield port


def test_postmark_is_probed_with_its_token_and_nothing_is_sent(postmark_port: int) -> None:
    good = probe_mail(f"postmark://{PostmarkServer.token}@127.0.0.1:{postmark_port}?scheme=http")
    assert good.ok is True and good.detail == "Postmark accepted the server token"
    assert good.backend == f"postmark://***@127.0.0.1:{postmark_port}?scheme=http"
    bad = probe_mail(f"postmark://wrong-token@127.0.0.1:{postmark_port}?scheme=http")
    assert bad.ok is False and bad.detail == "Postmark refused the server token (HTTP 401)"
    gone = probe_mail("postmark://t0ken@127.0.0.1:1?scheme=http")
    assert gone.ok is False and gone.detail.startswith("Postmark is unreachable")


def test_mail_probes_answer_for_every_kind_of_backend(tmp_path: Path) -> None:
    assert probe_mail(f"file://{tmp_path}").ok is True
    assert probe_mail(f"file://{tmp_path}/new/outbox").detail.endswith(
        "does not exist yet; it is created at the first send"
    )
    assert probe_mail("memory://").ok is None
    unknown = probe_mail("carrier-pigeon://coop")
    assert unknown.ok is False and "no mail backend for scheme 'carrier-pigeon'" in unknown.detail
    silent = probe_mail("smtp://127.0.0.1:1?starttls=off", timeout=2)
    assert silent.ok is False and "Connection refused" in silent.detail
