"""JSON from outside (a webhook's body, the SES message inside an SNS one),
read within the budget of :func:`worker.domain.documents.load_json` (nesting,
numbers, UTF-8, storable strings): every way it can be malformed is a
:class:`~subscribers.intake.records.PayloadError` saying which, never
another exception (a ``RecursionError`` was a 500 with a traceback)."""

from __future__ import annotations

from typing import Any

from subscribers.intake.records import PayloadError
from worker.domain.documents import DocumentError, load_json


def load_object(data: bytes | str, what: str) -> dict[str, Any]:
    """The JSON object in ``data``; ``what`` names it in the error
    (``the body``, ``the SNS Message``). Raises PayloadError."""
    try:
        found = load_json(data)
    except DocumentError as error:
        raise PayloadError(f"{what}: {error}") from None
    if not isinstance(found, dict):
        raise PayloadError(f"{what} is not a JSON object")
    return found
