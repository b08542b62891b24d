"""One batch of messages shared by a pool of sending threads (the SMTP
backend's connections): the composed messages, their answers, and the
threads still able to send."""

from __future__ import annotations

import queue
import threading
from collections import deque

from worker.mail.base import Outcome, OutgoingMessage, SendResult

#: A message and its place in the batch.
Item = tuple[int, OutgoingMessage]
# How often a waiting thread looks for handed-back messages and the end.
_POLL = 0.01


class SharedBatch:
    """What the threads sending one batch share.

    A thread that cannot connect, log in or get its sender accepted
    retires from the batch and hands its messages to the others; when the
    last one retires, what is left is answered :attr:`Outcome.UNSENT`. A
    thread looks for more work until every message is answered, since a
    peer may still hand some back.
    """

    def __init__(self, size: int, senders: int) -> None:
        self.queue: queue.Queue[Item] = queue.Queue(size)
        self.composed = threading.Event()  # every message has been offered
        self.answers: dict[int, SendResult] = {}
        self._lock = threading.Lock()
        self._handed_back: deque[Item] = deque()
        self._alive = senders
        self._taken = 0  # messages a thread holds, not yet answered or handed back
        self._down: SendResult | None = None  # why the last thread retired

    def offer(self, item: Item) -> None:
        """Queue a composed message, or answer it at once if no thread is left."""
        while self._down is None:
            try:
                self.queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        self.answers[item[0]] = self._down

    def take(self, patience: float | None = None) -> Item | None:
        """The next message. None when none is left, or, with ``patience``
        (seconds), when none came in that time."""
        while True:
            item = self._next(patience)
            if item is not None:
                with self._lock:
                    self._taken += 1
                return item
            if patience is not None:
                return None
            with self._lock:
                if (
                    self.composed.is_set()
                    and self.queue.empty()
                    and not self._handed_back
                    and not self._taken
                ):
                    return None

    def _next(self, patience: float | None) -> Item | None:
        if self._handed_back:
            with self._lock:
                if self._handed_back:
                    return self._handed_back.popleft()
        try:
            return self.queue.get(timeout=_POLL if patience is None else patience)
        except queue.Empty:
            return None

    def answer(self, index: int, result: SendResult) -> None:
        """Answer a message a thread took."""
        with self._lock:
            self.answers[index] = result
            self._taken -= 1

    def retire(self, items: list[Item], why: SendResult) -> None:
        """A thread gives up for this batch, handing back ``items`` unsent."""
        with self._lock:
            self._alive -= 1
            self._taken -= len(items)
            self._handed_back.extend(items)
            if self._alive:
                return
            self._down = why
        self.answer_the_rest()

    def answer_the_rest(self) -> None:
        """Answer what no thread took (every thread retired) as unsent."""
        why = self._down or SendResult(Outcome.UNSENT, None, "no connection could send it")
        with self._lock:
            left = [*self._handed_back]
            self._handed_back.clear()
        while True:
            try:
                left.append(self.queue.get_nowait())
            except queue.Empty:
                break
        for index, _ in left:
            self.answers.setdefault(index, why)
