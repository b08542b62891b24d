"""Statements the store is sent, altered on the way by an engine event, so
that a test can make the store itself refuse one (a unique slug clash)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event


def replaced(parameters: Any, old: str, new: str) -> Any:
    """A statement's parameters (a tuple, a dict, or a list of either) with
    every value ``old`` replaced by ``new``."""
    if isinstance(parameters, dict):
        return {key: new if value == old else value for key, value in parameters.items()}
    if isinstance(parameters, tuple):
        return tuple(new if value == old else value for value in parameters)
    if isinstance(parameters, list):
        return [replaced(each, old, new) for each in parameters]
    return parameters


@contextmanager
def inserts_into_tool_replacing(engine: Engine, old: str, new: str) -> Iterator[None]:
    """Within the block, every INSERT into ``tool`` has ``old`` values
    replaced by ``new`` (on PostgreSQL a refused one aborts its transaction)."""

    def replacing(
        _connection: Connection, _cursor: object, statement: str, parameters: Any, *_: object
    ) -> tuple[str, Any]:
        if statement.startswith("INSERT INTO tool"):
            parameters = replaced(parameters, old, new)
        return statement, parameters

    event.listen(engine, "before_cursor_execute", replacing, retval=True)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", replacing)
