"""Fixtures of the editor's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from worker.config import PROJECT_ROOT


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of templates/ to edit."""
    copy = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", copy)
    return copy
