"""The preview page: one edition's message in frames, with its text part,
headers and lint, served live by :mod:`worker.editor.server` or written
once as static files (``digest preview --out``).

The page is one HTML file with its data inside (JSON in a script element),
so the static copy opens from disk with nothing else; the live one fetches
the same JSON again after each change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jinja2

from worker.domain.segments import segment_label
from worker.domain.states import WENT_OUT
from worker.editor.lint.rules import Finding
from worker.editor.preview import Preview, dark_mode
from worker.now import process_now

PAGE_TEMPLATE = "page.html.j2"
# The phone widths shown beside the desktop frame: an iPhone's and the
# narrowest in common use (an iPhone SE, small Androids).
PHONE_WIDTHS = (375, 320)
DESKTOP_WIDTH = 680


def preview_payload(
    preview: Preview,
    segments: Sequence[str],
    findings: Iterable[Finding],
    *,
    version: int = 0,
    spam: str = "absent",
    built_at: dt.datetime | None = None,
    build_ms: float | None = None,
) -> dict[str, Any]:
    """What the page shows, as JSON-ready data. ``spam`` says where the
    SpamAssassin check is: absent (not installed), pending, done, failed."""
    return {
        "version": version,
        "week": preview.week,
        "segment": preview.segment,
        "segment_label": segment_label(preview.segment),
        "segments": [{"key": key, "label": segment_label(key)} for key in segments],
        "edition": preview.edition_status or "not built yet",
        # Gone out to readers: what it did can be reported (digest report).
        "went_out": preview.edition_status in WENT_OUT,
        "stored": preview.stored,
        "subject": preview.subject,
        "preheader": preview.preheader,
        "html_bytes": len(preview.html.encode("utf-8")),
        "message_bytes": len(preview.raw),
        "html": preview.html,
        "dark_html": dark_mode(preview.html),
        "text": preview.text,
        "headers": [list(header) for header in preview.headers],
        "lint": [finding_json(f) for f in findings],
        "spam": spam,
        "built_at": (built_at or process_now()).isoformat(timespec="seconds"),
        "build_ms": None if build_ms is None else round(build_ms, 1),
        "error": None,
    }


def error_payload(
    error: str, week: str, segment: str, segments: Sequence[str], *, version: int = 0
) -> dict[str, Any]:
    """What the page shows when there is nothing to show: the reason, and
    the segments to pick another."""
    return {
        "version": version,
        "week": week,
        "segment": segment,
        "segment_label": segment_label(segment),
        "segments": [{"key": key, "label": segment_label(key)} for key in segments],
        "error": error,
        "built_at": process_now().isoformat(timespec="seconds"),
    }


def finding_json(finding: Finding) -> dict[str, str]:
    """A finding as the page and ``digest lint --json`` give it."""
    return {"level": str(finding.level), "check": finding.check, "message": finding.message}


class PageRenderer:
    """Renders the page from ``templates_dir/preview``."""

    def __init__(self, templates_dir: Path) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir / "preview"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def render(self, payload: dict[str, Any], *, live: bool, report: bool = False) -> str:
        """The page, with ``payload`` inside; ``live`` adds the reloading,
        ``report`` a link to the edition's report (``report.html``, served
        beside the page) once the edition has gone out."""
        return self._env.get_template(PAGE_TEMPLATE).render(
            payload=payload,
            live=live,
            report=report,
            phone_widths=PHONE_WIDTHS,
            desktop_width=DESKTOP_WIDTH,
        )


def write_static(
    directory: Path, preview: Preview, payload: dict[str, Any], pages: PageRenderer
) -> list[Path]:
    """Write the page and the message's parts into ``directory``: index.html
    (the page), message.html (the HTML part, byte for byte), message-dark.html,
    message.txt, message.eml (the whole message) and lint.txt."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "index.html": pages.render(payload, live=False).encode("utf-8"),
        "message.html": preview.html.encode("utf-8"),
        "message-dark.html": payload["dark_html"].encode("utf-8"),
        "message.txt": preview.text.encode("utf-8"),
        "message.eml": preview.raw,
        "lint.txt": "".join(
            f"{f['level']}: {f['check']}: {f['message']}\n" for f in payload["lint"]
        ).encode("utf-8"),
    }
    written = []
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written
