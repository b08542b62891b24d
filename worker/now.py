"""This process's clock.

Two clocks tell the time here, and a reader should see which one a line
reads. :func:`process_now` is this machine's clock: what a message's Date
says, what a log line or a rate is measured by. ``worker.store.store_now``
is the store's clock: what leases, and anything else several machines
compare, are measured by (a worker's own clock may be off).
"""

from __future__ import annotations

import datetime as dt


def process_now() -> dt.datetime:
    """Now, by this process's clock, in UTC."""
    return dt.datetime.now(dt.UTC)
