"""Link tokens kept out of the logs.

The token in a subscriber's link (``/u/<token>``, ``/confirm/<token>``,
``/preferences/<token>``, ``/vote/<token>/…``) is a bearer credential:
whoever reads it can unsubscribe, confirm or vote as that subscriber. The
app's own log lines never hold one; what a server logs about a request
(its path) does. So:

- ``digest web`` (Werkzeug's development server) logs requests through
  :class:`MaskingRequestHandler`: ``"POST /u/*** HTTP/1.1" 200 -``;
- an unhandled error is logged by :func:`log_unhandled` with the path
  masked, and the token masked in the traceback too (an exception's text
  may quote it);
- gunicorn's access log, as the ``Procfile`` configures it, has no path at
  all.

A counted link (``/r/<token>?to=<destination>``) names no subscriber, but
its token and destination say which link was clicked, and a request line
holds the reader's address: both are masked (``/r/***``), so no log ties a
reader to what they read.
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType
from typing import Any

from flask import request
from werkzeug.serving import WSGIRequestHandler

from worker.logs import MASK

# The routes that carry a token as their first segment (a test compares
# this with the app's routes).
TOKEN_PREFIXES = ("/confirm/", "/preferences/", "/r/", "/u/", "/vote/")
_TOKEN = re.compile(
    "(?P<prefix>" + "|".join(re.escape(p) for p in TOKEN_PREFIXES) + r")[^/?#\s\"'\\]+"
)

# A counted link, its destination included (everything up to a space or quote).
_COUNTED = re.compile(r"/r/[^\s\"'\\]+")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


def masked(text: str) -> str:
    """``text`` with the token of every token route's path in it replaced
    by ``***`` (a counted link's destination too)."""
    return _TOKEN.sub(rf"\g<prefix>{MASK}", _COUNTED.sub(f"/r/{MASK}", text))


class MaskingRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, its log lines (requests, errors) masked."""

    def log(self, type: str, message: str, *args: Any) -> None:
        text = message % args if args else message
        super().log(type, "%s", masked(text))


def log_unhandled(logger: logging.Logger, exc_info: ExcInfo) -> None:
    """Log an error no handler took (what Flask's ``log_exception`` does),
    with the request's path and token masked, the traceback kept."""
    if not logger.isEnabledFor(logging.ERROR):
        return
    text = "".join(traceback.format_exception(*exc_info))
    token = (request.view_args or {}).get("token")
    if token:
        text = text.replace(str(token), MASK)
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        __file__,
        0,
        "unhandled error",
        None,
        None,
        extra={"path": masked(request.path), "method": request.method},
    )
    # Formatters print exc_text as the traceback; exc_info would be formatted
    # again, unmasked.
    record.exc_text = masked(text)
    logger.handle(record)
