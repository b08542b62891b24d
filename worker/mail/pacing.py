"""A token bucket that paces a stream of messages: ``rate`` per second on
average, up to ``burst`` at once. Set per backend with ``MAIL_URL``'s
``?rate=`` and ``?burst=``; it applies per worker process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class RateLimit:
    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1, burst if burst is not None else int(rate) or 1)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = clock()

    def take(self) -> float:
        """Take one message's token if there is one now (0.0); otherwise
        the seconds until there will be, taking nothing."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1 - 1e-9:  # a sleep of exactly the delay refills one
            return (1 - self._tokens) / self.rate
        self._tokens = max(0.0, self._tokens - 1)
        return 0.0

    def wait(self) -> None:
        """Block until one message may go."""
        while (delay := self.take()) > 0:
            self._sleep(delay)

    def paced(self, items: Iterable[T]) -> Iterator[T]:
        for item in items:
            self.wait()
            yield item
