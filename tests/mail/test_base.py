"""The backend interface: the rate limit read from MAIL_URL."""

from __future__ import annotations

import pytest

from worker.errors import MailError
from worker.mail import backend_from_url


def test_a_rate_limit_is_read_from_the_url_of_any_backend() -> None:
    backend = backend_from_url("memory://?rate=50&burst=5")
    assert backend.rate_limit is not None
    assert (backend.rate_limit.rate, backend.rate_limit.burst) == (50, 5)
    assert backend_from_url("memory://").rate_limit is None
    with pytest.raises(MailError, match="rate and burst"):
        backend_from_url("memory://?rate=fast")
