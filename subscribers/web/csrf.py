"""CSRF protection for the forms that change preferences and record votes.

Double submit against a signed cookie: the session cookie (signed with
``SECRET_KEY`` by Flask) holds a random value that each form repeats in a
hidden field. Another site can make a browser post a form, but cannot read
the cookie to fill in the field.

The one-click unsubscribe (RFC 8058) and the subscribe form take none: the
first must work with no cookie at all, the second is embedded on the site's
own pages (double opt-in and rate limits guard it).
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Request, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

FIELD = "csrf_token"
_KEY = "csrf"


def csrf_token() -> str:
    """The value a form of this browser session must send back."""
    if _KEY not in session:
        session[_KEY] = secrets.token_urlsafe(32)
    return str(session[_KEY])


def csrf_ok() -> bool:
    """Whether the submitted form carries this session's value."""
    expected = session.get(_KEY)
    sent = request.form.get(FIELD, "")
    return bool(expected) and hmac.compare_digest(str(expected), sent)


class LazyCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a request that sends no
    session cookie (a mailbox provider's one-click POST, and most visits)
    gets an empty session at once, without building a signer for nothing."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)
