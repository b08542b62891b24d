"""The subscriber web app (Flask): subscribe (a form, and an API for the
site's pages), confirm, unsubscribe, preferences, votes, the archive,
comparisons' pages, counted links and the bounce webhooks.

``gunicorn 'subscribers.web:create_app()'`` serves it (the ``web`` process of
the ``Procfile``). Every page is rendered from ``templates/web``.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from subscribers.web import api, archive, compare, ops, pages, redirects, spool, webhooks
from subscribers.web.csrf import LazyCookieSessions
from subscribers.web.state import KEY, WebState
from subscribers.web.tokenlog import ExcInfo, log_unhandled
from worker.config import Settings, load_settings, refuse_development_key
from worker.logs import configure_logging
from worker.store import make_engine, session_factory
from worker.store.outbox import with_events


class WebApp(Flask):
    """Flask, logging an unhandled error without its request's link token."""

    def log_exception(self, exc_info: ExcInfo) -> None:
        log_unhandled(self.logger, exc_info)


def create_app(
    settings: Settings | None = None, *, sessions: sessionmaker[Session] | None = None
) -> Flask:
    """The app for ``settings`` (default: from the environment), on the
    store of ``settings.database_url`` (recording webhook events when
    ``WEBHOOK_URLS`` is set) unless ``sessions`` is given."""
    configure_logging()  # under gunicorn; a CLI or a test harness has its own
    settings = settings or load_settings()
    refuse_development_key(settings, f"serving {settings.site_url}")
    if sessions is None:
        engine = make_engine(settings.database_url)
        sessions = session_factory(with_events(engine, bool(settings.webhook_urls)))
    app = WebApp(
        __name__,
        template_folder=str(settings.templates_dir / "web"),
        static_folder=None,
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.site_url.startswith("https://"),
        # Forms here are a few fields; anything bigger is refused before parsing.
        MAX_CONTENT_LENGTH=256 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
    )
    if settings.trusted_proxies:
        # The client address (for rate limits) and scheme as the proxies saw them.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    app.session_interface = LazyCookieSessions()
    app.extensions[KEY] = WebState(settings, sessions)
    _register_blueprints(app)
    # One-click unsubscribes a busy store turned away before a restart, and
    # then now and then, so that none waits for the next one to come in.
    engine = sessions.kw["bind"]
    spool.apply_queued(settings.unsubscribe_spool_dir, engine)
    app.before_request(lambda: spool.apply_now_and_then(settings.unsubscribe_spool_dir, engine))
    return app


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(archive.blueprint)
    app.register_blueprint(compare.blueprint)
    app.register_blueprint(redirects.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(ops.blueprint)
    app.register_blueprint(api.blueprint)
