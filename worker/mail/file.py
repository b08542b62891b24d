"""``file://DIR``: one ``.eml`` file per message, for the demo and editors."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import SplitResult, unquote

from worker.mail.base import MailBackend, OutgoingMessage, SendResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileBackend(MailBackend):
    """Writes each message to ``DIR/<time>-<n>-<message id>.eml`` atomically.

    ``file://outbox`` is relative to the working directory,
    ``file:///var/mail/out`` absolute.
    """

    def __init__(self, url: SplitResult) -> None:
        super().__init__(url)
        self.directory = Path(unquote(url.netloc + url.path) or ".")
        self._counter = itertools.count(1)

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        self.open()
        results = []
        for message in messages:
            name = _UNSAFE.sub("_", message.message_id.strip("<>"))[:120]
            stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._counter):06d}-{name}"
            path = self.directory / f"{stem}.eml"
            partial = self.directory / f".{stem}.tmp"
            partial.write_bytes(message.data)
            os.replace(partial, path)  # a reader never sees half a message
            results.append(SendResult.accepted(None, str(path)))
        return results
