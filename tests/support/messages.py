"""What composing a test message needs: an edition, a time and a reader."""

from __future__ import annotations

import datetime as dt

from worker.compose.ids import EditionRef
from worker.compose.message import Recipient

EDITION = EditionRef(edition_id=7, week="2026-W48")
NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
ADA = Recipient(subscriber_id=42, email="ada@example.com", name="Ada Lovelace")
