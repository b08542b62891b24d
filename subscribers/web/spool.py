"""One-click unsubscribes the store could not take, kept on disk until it can.

RFC 8058 asks for a prompt, reliable answer to a one-click unsubscribe, and
a mailbox provider does not come back to ask again. When the store still
refuses the write after ``WEB_WRITE_WAIT`` (busy, or unreachable), the
request is written to a file of its own in ``UNSUBSCRIBE_SPOOL_DIR`` and
answered 200. A file is written under a temporary name, flushed to disk and
renamed, and the directory flushed too: once the answer is sent, the
request survives a crash or a power cut.

The web app applies the queue when it starts, after every one-click
unsubscribe the store takes (it is writable then), and on any request once
:data:`CHECK_EVERY` seconds have passed since it last looked (a load
balancer's health checks make that a steady beat): a queued unsubscribe
does not wait for the next reader to leave. Each request is applied
as of when it was made, unless the subscriber has confirmed since; its file
is deleted once the transaction that applied it has committed. Applying is
idempotent, so two processes applying one file at once do no harm: no lock
is needed, only this process keeps its threads from doing the same work.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from subscribers import consent
from subscribers.web.busy import lock_wait
from worker.errors import driver_words

log = logging.getLogger("subscribers.web")

SUFFIX = ".json"
UNREADABLE = ".unreadable"
# Applied in one transaction: a short one, whatever piled up.
BATCH = 500

# Seconds between two looks at the queue from ordinary requests: one
# directory listing, usually of a directory that does not exist.
CHECK_EVERY = 5.0

_applying = threading.Lock()
_next_look = [0.0]  # monotonic time of this process's next look


def queue(directory: Path, subscriber_id: int, at: dt.datetime) -> Path:
    """Keep an unsubscribe of ``subscriber_id`` made at ``at``, durably;
    its file. Raises OSError when the directory cannot be written."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{at:%Y%m%dT%H%M%S%f}-{subscriber_id}-{secrets.token_hex(4)}"
    final = directory / f"{name}{SUFFIX}"
    temporary = directory / f".{name}.tmp"
    entry = {"subscriber_id": subscriber_id, "at": at.isoformat()}
    with open(temporary, "x", encoding="utf-8") as file:
        json.dump(entry, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, final)
    _sync_directory(directory)
    return final


def queued(directory: Path) -> list[Path]:
    """The unsubscribes waiting in ``directory``, oldest first."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []  # nothing queued yet (or nothing can be: queue() says so)
    return [directory / n for n in sorted(names) if n.endswith(SUFFIX) and not n.startswith(".")]


def apply_queued(directory: Path, engine: Engine) -> int:
    """Apply the unsubscribes waiting in ``directory`` (up to :data:`BATCH`)
    and delete their files; how many were applied. Returns 0 at once when
    another thread of this process is at it. A store that refuses leaves
    every file for the next time (logged); raises nothing but a bug."""
    if not _applying.acquire(blocking=False):
        return 0
    try:
        entries = _read(queued(directory)[:BATCH])
        if not entries:
            return 0
        try:
            with engine.connect() as connection, lock_wait(connection):
                for _path, subscriber_id, at in entries:
                    consent.unsubscribe_as_of(connection, subscriber_id, at)
                connection.commit()
        except DBAPIError as error:
            log.warning(
                "queued unsubscribes not applied yet",
                extra={"queued": len(entries), "error": driver_words(error)},
            )
            return 0
        for path, _id, _at in entries:
            path.unlink(missing_ok=True)
        log.warning("queued unsubscribes applied", extra={"done": len(entries)})
        return len(entries)
    finally:
        _applying.release()


def apply_now_and_then(directory: Path, engine: Engine) -> None:
    """Apply the queue if :data:`CHECK_EVERY` seconds have passed since
    this process last looked, and there is anything queued."""
    now = time.monotonic()
    if now < _next_look[0]:
        return
    _next_look[0] = now + CHECK_EVERY
    if queued(directory):
        apply_queued(directory, engine)


def _read(paths: list[Path]) -> list[tuple[Path, int, dt.datetime]]:
    """The entries of ``paths``; a file that cannot be read is renamed
    ``….unreadable`` (logged) so that it is not tried again."""
    entries = []
    for path in paths:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            at = dt.datetime.fromisoformat(entry["at"])
            subscriber_id = entry["subscriber_id"]
            if not isinstance(subscriber_id, int) or at.tzinfo is None:
                raise ValueError("not an unsubscribe")
        except FileNotFoundError:
            continue  # applied by another process meanwhile
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error(
                "queued unsubscribe unreadable", extra={"file": str(path), "error": str(error)}
            )
            with contextlib.suppress(FileNotFoundError):
                path.rename(path.with_name(path.name + UNREADABLE))
            continue
        entries.append((path, subscriber_id, at))
    return entries


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
