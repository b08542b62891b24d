"""What every view of the web app needs: the settings and the store's sessions.

Held in ``app.extensions`` by :func:`subscribers.web.create_app`, so that a
test can run several apps on several stores in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import busy
from worker.config import Settings

KEY = "verdict_digest"
T = TypeVar("T")


@dataclass(frozen=True)
class WebState:
    settings: Settings
    sessions: sessionmaker[Session]


def state() -> WebState:
    """The running app's :class:`WebState`."""
    found = current_app.extensions[KEY]
    assert isinstance(found, WebState)
    return found


def settings() -> Settings:
    """The running app's settings."""
    return state().settings


def sessions() -> sessionmaker[Session]:
    """Sessions on the running app's store."""
    return state().sessions


def engine() -> Engine:
    """The running app's store, for a single statement without a session."""
    bound = state().sessions.kw["bind"]
    assert isinstance(bound, Engine)
    return bound


def write(work: Callable[[Session], T], what: str) -> T:
    """``work(session)`` in one transaction of the running app's store,
    committed; made again while the store is busy, for up to
    ``WEB_WRITE_WAIT`` seconds (then :class:`~subscribers.web.busy.StoreBusy`).
    ``what`` names it in the log."""
    return busy.write(sessions(), work, wait=settings().web_write_wait, what=what)
