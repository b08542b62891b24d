"""CORS for the subscribe API: which sites' pages may call it from a browser.

A page of a site that ``ALLOWED_ORIGINS`` lists gets the headers that let
its script read the answer (its own origin echoed, never ``*``, never
credentials); a page of any other site gets none, so its browser keeps the
answer from it, and for a JSON body does not send the request at all (the
preflight fails). The API itself refuses a request that a page of another
site sent anyway (a form post, a ``no-cors`` fetch): see
:func:`from_a_stranger`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, request

from subscribers.web.state import settings

# Seconds a browser may keep a preflight's answer (Chromium keeps 2 hours at most).
MAX_AGE = 7200


def listed_origin() -> str | None:
    """The request's ``Origin`` if ``ALLOWED_ORIGINS`` lists it."""
    origin = request.headers.get("Origin")
    return origin if origin in settings().allowed_origins else None


def from_a_stranger() -> bool:
    """Whether a page of a site that is neither listed nor this one sent
    the request (``Origin: null`` included: a sandboxed or privacy-minded
    page's). A request without ``Origin`` comes from no page (a server, a
    script, an old browser's same-site post) and is no stranger's."""
    origin = request.headers.get("Origin")
    if origin is None or listed_origin() is not None:
        return False
    site = urlsplit(settings().site_url)
    return origin not in {f"{site.scheme}://{site.netloc}", request.host_url.rstrip("/")}


def with_cors(response: Response) -> Response:
    """``response`` with what a listed origin's page needs to read it; an
    answer that differs by ``Origin`` says so to caches either way."""
    response.vary.add("Origin")
    origin = listed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        # Not one a script may read unless named: when to ask again after a 429.
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def preflight() -> Response:
    """The answer to a browser's ``OPTIONS`` asking whether its page may
    POST JSON: yes for a listed origin, no CORS headers (so no) for others."""
    response = Response(status=204)
    if listed_origin() is not None:
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = str(MAX_AGE)
    return with_cors(response)
