"""The import contract (docs/architecture.md): the tree keeps it, and
breaking it, by an import reaching back or a module no contract places,
fails the check that ``make lint`` runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from worker.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages under ``root``, with its contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break."""
    for package in ("worker", "subscribers"):
        shutil.copytree(
            PROJECT_ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_the_contract() -> None:
    result = lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_reaching_back_breaks_the_contract(tree: Path) -> None:
    weeks = tree / "worker" / "domain" / "weeks.py"
    weeks.write_text(weeks.read_text() + "\nfrom worker.gather import gather_week  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "worker.domain.weeks -> worker.gather" in result.stdout
    assert "BROKEN" in result.stdout


def test_rendering_that_queries_breaks_the_contract(tree: Path) -> None:
    renderer = tree / "worker" / "render" / "renderer.py"
    renderer.write_text(renderer.read_text() + "\nimport sqlalchemy  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "worker.render.renderer -> sqlalchemy" in result.stdout


def test_a_module_no_contract_places_breaks_the_contract(tree: Path) -> None:
    (tree / "worker" / "newstage.py").write_text('"""Somewhere new."""\n')
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "worker.newstage" in result.stdout


def test_a_mail_backend_imports_no_store() -> None:
    """What a plugin backend imports (``worker.mail`` and its base) loads
    neither SQLAlchemy nor the store."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, worker.mail, worker.mail.base; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'alembic') or m.startswith('worker.store')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
