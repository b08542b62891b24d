"""The preview server (worker/editor/server.py) on loopback: it answers only
to its own name on 127.0.0.1, serves the message part by part, sandboxed,
reads segments as people write them, and, run as `digest preview`, fails
on a busy port and stops on a signal without leaving a scratch store."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import signal
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.mailparts import parse_message, part_bytes
from tests.support.preview import WEEK, cli_env, get, payload_of
from tests.support.sample import build_sample_week
from tests.support.signals import LANDINGS, running
from worker.config import Settings
from worker.deliver.runner import send_edition
from worker.editor.live import LivePreview
from worker.editor.page import PageRenderer
from worker.editor.preview import SAMPLE_READER, dark_mode
from worker.editor.sample import SAMPLE_WEEK, SampleStore
from worker.editor.server import serving
from worker.mail import backend_from_url
from worker.ops.report_html import page_maker


@pytest.fixture
def sample_server(settings: Settings) -> Iterator[str]:
    """The preview of the sample data on a free loopback port: its URL."""
    live = LivePreview(settings, SAMPLE_WEEK, sample=SampleStore(settings), spam=False)
    with serving(live, PageRenderer(settings.templates_dir)) as server:
        yield server.url


def status_with_host(url: str, host: str, path: str = "/") -> int:
    """The status of a GET of ``path`` at ``url``'s server, naming ``host``."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def headers_of(url: str) -> http.client.HTTPMessage:
    """The response headers of a GET of ``url``."""
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return response.headers


def test_the_server_answers_only_to_its_own_name(sample_server: str) -> None:
    port = urllib.parse.urlsplit(sample_server).port
    assert sample_server == f"http://127.0.0.1:{port}/"
    for path in ("/", "/api/preview", "/message.html", "/message.eml"):
        assert status_with_host(sample_server, f"127.0.0.1:{port}", path) == 200
        assert status_with_host(sample_server, f"localhost:{port}", path) == 200
        # DNS rebinding: a page on another name that resolves to 127.0.0.1.
        assert status_with_host(sample_server, f"evil.example:{port}", path) == 400
        assert status_with_host(sample_server, "evil.example", path) == 400


def test_the_server_listens_on_127_0_0_1_only(sample_server: str) -> None:
    port = urllib.parse.urlsplit(sample_server).port
    assert port
    # Another loopback address reaches a server bound to 0.0.0.0, not this one.
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.2", port, timeout=5).connect()


def test_the_server_serves_the_message_parts(sample_server: str) -> None:
    raw = get(f"{sample_server}message.eml")
    message = parse_message(raw)
    assert message["To"] == f"{SAMPLE_READER.name} <{SAMPLE_READER.email}>"
    html = get(f"{sample_server}message.html")
    assert html == part_bytes(message, "html")
    assert get(f"{sample_server}message.txt") == part_bytes(message, "plain")
    assert get(f"{sample_server}message-dark.html").decode() == dark_mode(html.decode())
    page = get(sample_server).decode("utf-8")
    assert payload_of(page)["html"].encode("utf-8") == html
    # A segment with nothing that week: the reason, no message.
    nothing = urllib.parse.urlencode({"segment": "Robotics"})
    payload = json.loads(get(f"{sample_server}api/preview?{nothing}"))
    assert payload["error"] == f"{WEEK}: nothing for Robotics this week"
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{sample_server}message.html?{nothing}")
    assert refused.value.code == 404


def test_changes_long_poll_answers_at_once_when_behind(sample_server: str) -> None:
    current = json.loads(get(f"{sample_server}api/preview"))["version"]
    assert json.loads(get(f"{sample_server}api/changes?since=-1")) == {"version": current}


def test_a_segment_is_read_as_a_person_writes_it(sample_server: str) -> None:
    written = json.loads(get(f"{sample_server}api/preview?segment=Productivity,%20Design"))
    key = json.loads(get(f"{sample_server}api/preview?segment=Design%7CProductivity"))
    assert written["error"] is None
    assert written["segment"] == key["segment"] == "Design|Productivity"
    assert written["segment_label"] == "Design, Productivity"
    assert written["html"] == key["html"] and "Your picks: Design, Productivity" in written["html"]
    assert get(f"{sample_server}message.html?segment=Productivity,%20Design") == get(
        f"{sample_server}message.html?segment=Design%7CProductivity"
    )
    page = get(f"{sample_server}?segment=%20Productivity%20,Design,,").decode("utf-8")
    assert payload_of(page)["segment"] == "Design|Productivity"
    # Categories match whatever their case: the subscribers' spelling wins.
    lower = json.loads(get(f"{sample_server}api/preview?segment=productivity,%20design"))
    assert lower["segment"] == "Design|Productivity" and lower["html"] == key["html"]


def test_the_message_alone_is_sandboxed(sample_server: str) -> None:
    for path in ("message.html", "message-dark.html", "message.txt", "message.eml"):
        headers = headers_of(f"{sample_server}{path}")
        assert headers["Content-Security-Policy"] == "sandbox allow-popups", path
        assert headers["Cache-Control"] == "no-store", path
    # The page runs its own script: it is not sandboxed.
    assert "sandbox" not in (headers_of(sample_server)["Content-Security-Policy"] or "")


def test_the_preview_links_to_the_report_once_the_edition_went_out(
    settings: Settings, sessions: sessionmaker[Session], database_url: str
) -> None:
    config = dataclasses.replace(settings, database_url=database_url)
    build_sample_week(sessions, config)
    live = LivePreview(config, SAMPLE_WEEK, spam=False)
    report = page_maker(sessions, config, SAMPLE_WEEK)
    with serving(live, PageRenderer(config.templates_dir), report=report) as server:
        page = get(server.url).decode("utf-8")
        assert '<a id="report" class="status" href="/report.html"' in page
        assert payload_of(page)["went_out"] is False  # built, not sent: the link stays hidden
        with pytest.raises(urllib.error.HTTPError) as early:
            get(f"{server.url}report.html")
        assert early.value.code == 404
        assert early.value.read() == b"2026-W48: no edition of that week went out\n"

        send_edition(sessions, SAMPLE_WEEK, config, backend_from_url("memory://"))
        changed = json.loads(get(f"{server.url}api/changes?since={live.version}"))["version"]
        assert json.loads(get(f"{server.url}api/preview"))["went_out"] is True, changed
        html = get(f"{server.url}report.html").decode("utf-8")
        assert "<h1>2026-W48: what the edition did</h1>" in html
        headers = headers_of(f"{server.url}report.html")
        assert headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"


def test_a_sample_preview_has_no_report(sample_server: str) -> None:
    assert 'id="report"' not in get(sample_server).decode("utf-8")
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{sample_server}report.html")
    assert refused.value.code == 404


def test_preview_on_a_busy_port_fails_and_leaves_no_scratch_store(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = cli_env(TMPDIR=str(scratch))  # the sample's scratch store goes here
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = digest(env, "preview", "--sample", "--port", str(port), timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    said = f"error: preview: cannot listen on 127.0.0.1:{port}: Address already in use"
    # (Its line may go on to say what it tried to bind.)
    assert any(line.startswith(said) for line in done.stderr.splitlines()), done.stderr
    assert "Traceback" not in done.stderr and "preview at" not in done.stdout
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("lands", LANDINGS)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_preview_stops_on_a_signal_and_leaves_no_scratch_store(
    tmp_path: Path, signum: signal.Signals, lands: str
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = cli_env(TMPDIR=str(scratch), LOG_LEVEL="WARNING")
    with running(env, tmp_path, "preview", "--sample", "--port", "0") as preview:
        preview.wait_for("(Ctrl-C stops)")
        url = re.search(r"preview at (http://127\.0\.0\.1:\d+/)", preview.stdout())
        assert url is not None, preview.stdout()
        assert json.loads(get(f"{url[1]}api/preview"))["error"] is None
        assert list(scratch.iterdir())  # the sample's scratch store, while serving
        preview.signal(signum, lands)
        assert preview.stopped() == 0, preview.tail()
    assert "preview stopped" in preview.stdout() and "Traceback" not in preview.stderr()
    assert list(scratch.iterdir()) == []
