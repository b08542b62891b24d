"""Mail backends, chosen by ``MAIL_URL``'s scheme.

Built-in and third-party backends alike register a :class:`MailBackend`
subclass under their scheme in the ``verdict_digest.mail_backends`` entry
point group.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from urllib.parse import urlsplit

from worker.errors import MailError
from worker.mail.base import MailBackend, Outcome, OutgoingMessage, SendResult

GROUP = "verdict_digest.mail_backends"

__all__ = [
    "MailBackend",
    "Outcome",
    "OutgoingMessage",
    "SendResult",
    "available_schemes",
    "backend_from_url",
]


def available_schemes() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def backend_from_url(url: str) -> MailBackend:
    """The backend for ``url`` (e.g. ``smtp://user:pass@host:587``), not yet open."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise MailError("MAIL_URL is not a URL") from None
    after_scheme = url.partition("://")[2]
    if after_scheme.count("@") > 1 or ("@" in after_scheme and "@" not in parts.netloc):
        # An unencoded "/", "?" or "#" in the password ends the authority
        # early, and an unencoded "@" makes the parser pick another host.
        raise MailError(
            "MAIL_URL: percent-encode the user name and password "
            "(/ as %2F, ? as %3F, # as %23, @ as %40)"
        )
    found = [ep for ep in entry_points(group=GROUP) if ep.name == parts.scheme]
    if not found:
        raise MailError(
            f"MAIL_URL: no mail backend for scheme {parts.scheme!r} "
            f"(available: {', '.join(available_schemes())})"
        )
    backend = found[0].load()
    if not (isinstance(backend, type) and issubclass(backend, MailBackend)):
        raise MailError(f"MAIL_URL: {found[0].value} is not a MailBackend")
    return backend(parts)
