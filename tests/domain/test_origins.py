"""Origins as a browser sends them (worker/domain/origins.py), the form
ALLOWED_ORIGINS must be written in."""

from __future__ import annotations

import pytest

from worker.domain.origins import origin


@pytest.mark.parametrize(
    "text",
    [
        "https://verdicts.example",
        "http://127.0.0.1:8000",
        "https://www.verdicts.example:8443",
        "http://[::1]:8080",
        "https://xn--bcher-kva.example",
    ],
)
def test_an_origin_as_a_browser_writes_it_is_taken(text: str) -> None:
    assert origin(text) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("https://verdicts.example/", "write it as a browser sends it, 'https://verdicts.example'"),
        ("HTTPS://Verdicts.Example", "write it as a browser sends it, 'https://verdicts.example'"),
        (
            "https://verdicts.example:443",
            "write it as a browser sends it, 'https://verdicts.example'",
        ),
        ("http://127.0.0.1:80", "write it as a browser sends it, 'http://127.0.0.1'"),
        ("https://v.example/path?q#f", "write it as a browser sends it, 'https://v.example'"),
        (
            "https://bücher.example",
            "write it as a browser sends it, 'https://xn--bcher-kva.example'",
        ),
        ("verdicts.example", "is not an origin like https://verdicts.example"),
        ("ftp://verdicts.example", "is not an origin like https://verdicts.example"),
        ("https://v.example:99999", "is not an origin like https://verdicts.example"),
        ("null", "is not an origin like https://verdicts.example"),
        ("*", "'*' would let any site's pages call it: list each site's origin"),
        ("https://ann:hunter2@v.example", "an origin has no user or password: 'v.example'"),
    ],
)
def test_anything_else_is_refused_saying_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(ValueError) as refused:
        origin(text)
    assert says in str(refused.value)
    assert "hunter2" not in str(refused.value)
