"""The store probe reads the migrations' ids without Alembic: the same
head and the same set as Alembic's own reading, and a store's revision as
Alembic reads it."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from worker.ops.health import head_revision, known_revisions
from worker.store import MIGRATIONS, current_revision, make_engine, upgrade


def test_the_probe_reads_the_migrations_as_alembic_does() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    assert head_revision() == scripts.get_current_head()
    assert known_revisions() == {r.revision for r in scripts.walk_revisions()}


def test_a_stores_revision_reads_as_alembics(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = make_engine(f"sqlite:///{tmp_path}/store.sqlite3")
    assert current_revision(engine) is None
    upgrade(engine, "0003")
    with engine.connect() as connection:
        alembics = MigrationContext.configure(connection).get_current_revision()
    assert current_revision(engine) == alembics == "0003"
    engine.dispose()
