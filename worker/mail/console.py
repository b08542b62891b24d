"""``console://``: each message printed, for a quick look from a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import SplitResult

from worker.mail.base import MailBackend, OutgoingMessage, SendResult


class ConsoleBackend(MailBackend):
    def __init__(self, url: SplitResult, stream: TextIO | None = None) -> None:
        super().__init__(url)
        self.stream = stream

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        stream = self.stream or sys.stdout
        messages = list(messages)
        for message in messages:
            stream.write(message.data.decode("utf-8", errors="replace").replace("\r\n", "\n"))
            stream.write("\n" + "-" * 79 + "\n")
        stream.flush()
        return [SendResult.accepted(None, "printed") for _ in messages]
