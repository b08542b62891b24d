"""What counts as a link to the web, and the pages an email links to: the
site's own, and where a comparison's title goes."""

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


# Stands for a comparison's slug in COMPARE_URL.
SLUG_FIELD = "{slug}"


def compare_url_problem(template: str) -> str:
    """What is wrong with ``template`` as COMPARE_URL ("" if nothing): it
    must hold ``{slug}`` and be an http(s) URL once the slug is in."""
    if SLUG_FIELD not in template:
        return f"{template!r} has no {SLUG_FIELD} for the comparison's slug"
    if not is_web_url(template.replace(SLUG_FIELD, "a-slug")):
        return f"{template!r} is not an http(s) URL"
    return ""


def comparison_url(slug: str, *, own: str | None, compare_url: str, site_url: str) -> str:
    """Where a comparison's title links: its ``own`` URL (the content
    file's ``url:``), else ``compare_url`` (COMPARE_URL) with its slug in,
    else the subscriber app's page of it."""
    if own:
        return own
    if compare_url:
        return compare_url.replace(SLUG_FIELD, slug)
    return f"{site_url.rstrip('/')}/compare/{slug}"
