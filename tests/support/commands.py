"""The ``digest`` command run as a real process, the way an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def digest(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m worker ARGS`` with ``env``; its exit status, stdout and
    stderr, never raising on failure."""
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
