"""Alembic environment: migrates the engine handed over by ``worker.store``.

On SQLite most schema changes rebuild a table (copy, drop, rename). With
foreign keys on, dropping a table deletes the rows that reference it through
ON DELETE CASCADE (a subscriber's votes and deliveries), so they are turned
off for the migration, outside its transaction where SQLite allows that, and
checked afterwards.
"""

from alembic import context

from worker.store.models import Base

engine = context.config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"

with engine.connect() as connection:
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    with connection.begin():
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite
        )
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
