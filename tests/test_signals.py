"""worker/signals.py: a stop signal wakes the main thread's wait wherever
the kernel delivered it, a stop set by another thread does too, the handler
hears of each signal, and the previous handlers come back."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from worker.signals import Stop, stopping_on_signals

# Far longer than a wait woken by the signal takes; what a wait that missed
# it would sit through.
MISSED = 10.0


def started(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_taken_by_another_thread_wakes_the_main_threads_wait(
    signum: signal.Signals,
) -> None:
    heard: list[tuple[signal.Signals, bool]] = []
    with stopping_on_signals(lambda sig, again: heard.append((sig, again))) as stop:

        def take() -> None:
            # Once the main thread is likely asleep in its wait (were it not
            # yet, the test would pass without showing anything), the signal
            # goes to this thread alone: its C-level handler runs here.
            time.sleep(0.2)
            signal.pthread_kill(threading.get_ident(), signum)

        taker = started(take)
        began = time.monotonic()
        assert stop.wait(MISSED)
        assert time.monotonic() - began < MISSED / 2
        taker.join()
    assert heard == [(signum, False)]


def test_a_stop_set_by_another_thread_wakes_the_main_threads_wait() -> None:
    with stopping_on_signals() as stop:
        setter = started(stop.set)
        assert stop.wait(MISSED)
        setter.join()


def test_a_second_signal_is_heard_as_again() -> None:
    heard: list[tuple[signal.Signals, bool]] = []
    with stopping_on_signals(lambda sig, again: heard.append((sig, again))) as stop:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        assert stop.wait(0)
    assert heard == [(signal.SIGTERM, False), (signal.SIGINT, True)]


def test_a_wait_ends_at_its_timeout_and_the_handlers_come_back() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    wakeup = signal.set_wakeup_fd(-1)  # reading it means setting it: put back at once
    signal.set_wakeup_fd(wakeup)
    given = Stop()
    with stopping_on_signals(stop=given) as stop:
        assert stop is given
        assert signal.getsignal(signal.SIGTERM) not in (before[signal.SIGTERM], None)
        assert not stop.wait(0.05)
    assert {signum: signal.getsignal(signum) for signum in before} == before
    assert signal.set_wakeup_fd(wakeup) == wakeup
    given.set()  # after the block: an event like any other
    assert given.wait(0)


def test_a_wait_outside_the_main_thread_is_an_event_wait() -> None:
    with stopping_on_signals() as stop:
        answers: list[bool] = []
        waiter = started(lambda: answers.append(stop.wait(MISSED)))
        stop.set()
        waiter.join()
    assert answers == [True]
