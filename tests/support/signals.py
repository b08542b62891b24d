"""A long-running ``digest`` command as a process, stopped by a signal: its
output kept in files, waited on until it says it is ready, signalled, and
waited on with a deadline.

The kernel hands a process's signal to whichever of its threads takes it
first, which is nearly always the main one. A test that sends it to a thread
other than the main one (``lands="thread"``) makes certain what a busy
process gets now and then: the case where a main thread asleep in a wait
never ran the handler.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Where a test's signal lands: the process (the kernel picks), or a thread
# of it other than the main one.
LANDINGS = ("process", "thread")
# What a platform gives a process between SIGTERM and SIGKILL, less a margin.
STOP_SECONDS = 25.0

_libc = ctypes.CDLL(None, use_errno=True)


class Running:
    """A ``python -m worker …`` process, its stdout and stderr in files (a
    pipe nobody reads would fill up and stall it)."""

    def __init__(self, popen: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.popen = popen
        self.out = out
        self.err = err

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_for(self, words: str, timeout: float = 60) -> None:
        """Return once ``words`` is in its output; fail if it exits or
        ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while words not in self.stdout() + self.stderr():
            if self.popen.poll() is not None:
                pytest.fail(f"exited {self.popen.returncode} before {words!r}: {self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {words!r} within {timeout} s: {self.tail()}")
            time.sleep(0.02)

    def signal(self, signum: signal.Signals, lands: str) -> None:
        """Send ``signum`` to the process, or to one of its threads other
        than the main one."""
        if lands == "process":
            self.popen.send_signal(signum)
            return
        for tid in self.threads():
            if _libc.tgkill(self.popen.pid, tid, int(signum)) == 0:
                return
            # That thread ended meanwhile: another one.
        pytest.fail(f"no thread but the main one to signal: {self.tail()}")

    def threads(self) -> list[int]:
        """The ids of its threads other than the main one."""
        tids = (int(name) for name in os.listdir(f"/proc/{self.popen.pid}/task"))
        return sorted(tid for tid in tids if tid != self.popen.pid)

    def stopped(self, timeout: float = STOP_SECONDS) -> int:
        """Its exit status, failing the test if it is still running
        ``timeout`` seconds later."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(f"still running {timeout} s after the signal: {self.tail()}")

    def tail(self) -> str:
        return (self.stdout() + self.stderr())[-2000:]


@contextmanager
def running(env: dict[str, str], folder: Path, *args: str) -> Iterator[Running]:
    """``python -m worker ARGS`` with ``env``, its output in ``folder``;
    killed on the way out if still running."""
    out, err = folder / f"{args[0]}.out", folder / f"{args[0]}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        popen = subprocess.Popen(
            [sys.executable, "-m", "worker", *args], env=env, stdout=stdout, stderr=stderr
        )
    try:
        yield Running(popen, out, err)
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait()
