"""What the command tests share: the ``digest`` command on the test's store."""

from __future__ import annotations

import pytest

from tests.support.cli import CliRunnerCall


@pytest.fixture
def digest(database_url: str) -> CliRunnerCall:
    """``digest …`` in process, on the test's store, mailing to memory."""
    return CliRunnerCall(database_url)
