"""A feed entry made into a launch: its canonical URL, the second dedupe key."""

from __future__ import annotations

import pytest

from worker.ingest.launches import canonical_url


def test_canonical_url() -> None:
    assert canonical_url("HTTPS://Example.COM:443/a/b/?utm_source=x&b=2&a=1#frag") == (
        "https://example.com/a/b?a=1&b=2"
    )
    assert canonical_url("http://example.com:8080") == "http://example.com:8080/"
    assert canonical_url("http://[::1]:8080/a/") == "http://[::1]:8080/a"
    with pytest.raises(ValueError, match="Port"):
        canonical_url("http://x:abc/")
