"""Web origins (RFC 6454) as a browser sends them in an ``Origin`` header:
``https://verdicts.example``, ``http://127.0.0.1:8000``.

``ALLOWED_ORIGINS`` lists the sites whose pages may call the subscribe API.
A listed value is compared with the header byte for byte, so it must be
written as a browser writes it; :func:`origin` says how when it is not
(a trailing ``/``, capitals, a default port, a path).
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(text: str) -> str:
    """``text``, checked to be an origin as a browser writes it; raises
    ValueError saying what is wrong (and, where it can, how to write it)."""
    if text == "*":
        raise ValueError("'*' would let any site's pages call it: list each site's origin")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin like https://verdicts.example") from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{text!r} is not an origin like https://verdicts.example")
    if parts.username is not None or parts.password is not None:
        # Not quoted: what stands there may be a password.
        raise ValueError(f"an origin has no user or password: {parts.hostname!r}")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{text!r}: the host is not a valid domain name") from None
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    shown_port = "" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}"
    written = f"{scheme}://{host}{shown_port}"
    if text != written:
        raise ValueError(f"{text!r}: write it as a browser sends it, {written!r}")
    return written
