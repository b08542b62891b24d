"""Mail the web app sends (confirmations, welcomes) goes out after the
answer, from a small pool of threads per process.

The visitor's answer must not depend on what is mailed: a subscribe
request for a suppressed address mails nothing, one for a new address waits
on an SMTP round trip, and a visitor who could time the answer would learn
which was which. A failed send is logged; the visitor can ask again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger("subscribers.web")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()


def send_later(task: Callable[[], None], what: str) -> None:
    """Run ``task`` (which mails something) after the answer; ``what`` names
    it in the log if it fails."""
    global _pool
    with _lock:
        if _pool is None:
            # Made on first use, so that each gunicorn worker (a fork) has its own.
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="outbox")
        future = _pool.submit(_run, task, what)
        _pending.add(future)
    future.add_done_callback(_forget)


def _run(task: Callable[[], None], what: str) -> None:
    # Logged here rather than by a callback, so that it is done by the time
    # wait_for_mail() returns.
    try:
        task()
    except Exception as error:
        log.error("%s not sent: %s", what, error)


def _forget(future: Future[None]) -> None:
    with _lock:
        _pending.discard(future)


def wait_for_mail(timeout: float = 30.0) -> None:
    """Wait until the mail handed to :func:`send_later` so far is sent (tests,
    and a clean shutdown)."""
    with _lock:
        pending = set(_pending)
    wait(pending, timeout=timeout)
