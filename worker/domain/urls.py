"""What counts as a link to the web, and the site's own pages an email links to."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def archive_url(site_url: str, week: str) -> str:
    """The archive page of ``week``'s edition ("View in browser")."""
    return f"{site_url.rstrip('/')}/archive/{week}"


def archive_launches_url(site_url: str, week: str) -> str:
    """The archive's list of every launch of ``week``: where an edition
    whose launches were capped sends its readers for the rest."""
    return f"{archive_url(site_url, week)}/launches"
