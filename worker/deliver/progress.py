"""How far a send has come, and how fast: the figures behind ``digest
send``'s progress bar (or its log line) and ``digest worker``'s log line.

Pure: the caller gives the counts and the times (``time.monotonic()``
seconds), so the figures can be checked without a clock or a store.
Counting an edition is a query, so a caller measures only when
:meth:`SendProgress.due` says so, at most every ``every`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.deliver.editions import Counts


@dataclass(frozen=True)
class EditionProgress:
    """An edition's deliveries settled (sent, failed or suppressed) of all,
    and this run's send rate."""

    done: int
    total: int
    rate: float  # messages this run sent per second


class SendProgress:
    """Measures a run of sending that began at ``started``, at most every
    ``every`` seconds."""

    def __init__(self, started: float, every: float) -> None:
        self.started = started
        self.every = every
        self._last = started

    def due(self, now: float) -> bool:
        """Whether a measurement is due at ``now``; when it is, the next one
        is due ``every`` seconds later."""
        if now - self._last < self.every:
            return False
        self._last = now
        return True

    def rate(self, sent: int, now: float) -> float:
        """Messages per second, of ``sent`` sent by this run from its start to ``now``."""
        return sent / max(now - self.started, 1e-6)

    def of_edition(self, counts: Counts, sent: int, now: float) -> EditionProgress:
        """The edition's progress by its ``counts``, of which this run sent
        ``sent``, at ``now``."""
        done = counts.total - counts.pending
        return EditionProgress(done, counts.total, self.rate(sent, now))
