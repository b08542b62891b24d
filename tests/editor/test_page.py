"""The preview page written as static files (worker/editor/page.py, `digest
preview --out`): the page with its data inside, the message and its parts,
the dark copy and the lint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.commands import digest
from tests.support.mailparts import parse_message, part_bytes
from tests.support.preview import WEEK, cli_env, payload_of
from worker.editor.preview import dark_mode


@pytest.mark.parametrize("segment", ["", "Productivity, Design"])
def test_preview_out_writes_the_static_pages(tmp_path: Path, segment: str) -> None:
    out = tmp_path / "out"
    chosen = ("--segment", segment) if segment else ()
    done = digest(cli_env(), "preview", "--sample", "--out", str(out), *chosen)
    assert done.returncode == 0, done.stderr
    assert f"{WEEK}: preview written to {out / 'index.html'}" in done.stdout
    names = {"index.html", "message.html", "message.eml", "message.txt", "message-dark.html"}
    assert {p.name for p in out.iterdir()} == names | {"lint.txt"}

    message = parse_message((out / "message.eml").read_bytes())
    html = (out / "message.html").read_bytes()
    assert html == part_bytes(message, "html")
    assert (out / "message.txt").read_bytes() == part_bytes(message, "plain")
    assert (out / "message-dark.html").read_bytes().decode() == dark_mode(html.decode())
    assert message["To"] == "Sample Reader <reader@example.com>"

    payload = payload_of((out / "index.html").read_text(encoding="utf-8"))
    assert payload["html"].encode("utf-8") == html
    assert payload["segment"] == ("Design|Productivity" if segment else "")
    assert payload["subject"] == message["Subject"]
    assert payload["spam"] in ("done", "absent")  # a snapshot waits for SpamAssassin
    picks = "Your picks: Design, Productivity"
    assert (picks in html.decode("utf-8")) == bool(segment)
    lint = (out / "lint.txt").read_text(encoding="utf-8").splitlines()
    assert lint == [f"{f['level']}: {f['check']}: {f['message']}" for f in payload["lint"]]
    assert any(line.startswith("info: size: HTML is") for line in lint)
    assert not any(line.startswith("error:") for line in lint), lint
