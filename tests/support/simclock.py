"""A simulated clock that the test and real ``digest`` processes share.

The time is kept in a file: an instant and the moment (real, Unix time) it
was set, so the simulated clock runs on in real time from wherever the test
put it, and the test moves it with :meth:`SimulatedClock.set`. ``python -m
tests.support.simclock FILE ARGS…`` runs ``digest ARGS…`` with both of the
worker's clocks, ``worker.now.process_now`` and ``worker.store.store_now``,
reading that file: what a lease, a due time, a message's Date and an idle
worker's wait are measured by.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any


class SimulatedClock:
    """The simulated time kept in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, moment: dt.datetime) -> None:
        """From now on (real time) the clock reads ``moment``, and runs on."""
        staged = self.path.with_suffix(".new")
        staged.write_text(f"{moment.astimezone(dt.UTC).isoformat()} {time.time()!r}")
        staged.replace(self.path)  # readers never see half a file

    def now(self) -> dt.datetime:
        """The simulated time now, in UTC."""
        moment, set_at = self.path.read_text().split()
        elapsed = dt.timedelta(seconds=time.time() - float(set_at))
        return dt.datetime.fromisoformat(moment) + elapsed


def _run_digest(path: Path, args: list[str]) -> None:
    """``digest ARGS`` with this process's clocks replaced by the file's."""
    import worker.now
    import worker.store

    clock = SimulatedClock(path)

    def process_now() -> dt.datetime:
        return clock.now()

    def store_now(session: Any) -> dt.datetime:
        return clock.now()

    originals = {"process_now": worker.now.process_now, "store_now": worker.store.store_now}
    fakes = {"process_now": process_now, "store_now": store_now}
    # The modules imported from here on take the fakes; those imported
    # already hold the originals under their own names.
    worker.now.process_now = process_now  # type: ignore[assignment]
    worker.store.store_now = store_now  # type: ignore[assignment]
    import worker.cli

    for module in list(sys.modules.values()):
        if module is None or not module.__name__.startswith(("worker", "subscribers")):
            continue
        for name, original in originals.items():
            if getattr(module, name, None) is original:
                setattr(module, name, fakes[name])
    sys.argv = ["digest", *args]
    worker.cli.main()


if __name__ == "__main__":
    _run_digest(Path(sys.argv[1]), sys.argv[2:])
