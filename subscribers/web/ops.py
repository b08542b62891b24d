"""What a platform and a monitoring system ask the web process.

``GET /healthz`` checks the store: it answers a ``SELECT 1`` and holds the
schema of this code's latest migration. 200 ``{"status": "ok"}``, or 503
``{"status": "error", "problems": [...]}`` in words safe for anyone to
read; the driver's own words go to the log.

``GET /metrics`` is the Prometheus text exposition (format 0.0.4) of
:func:`worker.ops.overview.read_metrics`. With ``METRICS_TOKEN`` set it asks
for ``Authorization: Bearer <token>``. Each metric is described in
docs/observability.md.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Mapping

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from subscribers.web.state import engine, sessions, settings
from worker.ops.health import store_health
from worker.ops.overview import Metrics, read_metrics

log = logging.getLogger("subscribers.ops")
blueprint = Blueprint("ops", __name__)

EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the store answers and is migrated, 503 saying what is not."""
    health = store_health(engine())
    if health.ok:
        answer, status = jsonify(status="ok"), 200
    else:
        log.warning(
            "health check failed",
            extra={"error": health.error or health.problem, "revision": health.revision},
        )
        answer, status = jsonify(status="error", problems=[health.problem]), 503
    answer.headers["Cache-Control"] = "no-store"
    return answer, status


@blueprint.get("/metrics")
def metrics() -> Response:
    """The store's figures for Prometheus; 401 without the METRICS_TOKEN."""
    token = settings().metrics_token
    if token and not _bearer_matches(token):
        return Response(
            "a bearer token is required\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    try:
        with sessions()() as session:
            figures = read_metrics(session, settings().list_id)
    except SQLAlchemyError as error:
        log.warning("metrics unavailable", extra={"error": str(error).splitlines()[0]})
        return Response("the store is unavailable\n", status=503, mimetype="text/plain")
    response = Response("".join(exposition(figures)), content_type=EXPOSITION)
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def exposition(figures: Metrics) -> Iterator[str]:
    """``figures`` as Prometheus text, one family after another."""
    yield from _family(
        "digest_deliveries",
        "Deliveries of the editions sending or paused, by status.",
        {
            (("edition", week), ("status", status)): n
            for (week, status), n in sorted(figures.deliveries.items())
        },
    )
    yield from _family(
        "digest_queue_depth",
        "Deliveries workers can claim now: queued, and deferred and due, of sending editions.",
        {(): figures.queue_depth},
    )
    yield from _family(
        "digest_queue_lag_seconds",
        "How long the oldest claimable delivery has been due; 0 when none is.",
        {(): round(figures.lag_seconds, 3)},
    )
    yield from _family(
        "digest_editions",
        "Editions of the list by status.",
        {(("status", s),): n for s, n in figures.editions.items()},
    )
    last = figures.last_ingest.timestamp() if figures.last_ingest else 0
    yield from _family(
        "digest_last_ingest_timestamp_seconds",
        "When a feed was last fetched (Unix time); 0 when never.",
        {(): round(last, 3)},
    )
    yield from _family(
        "digest_feeds_in_error",
        "Active feeds whose last fetch failed.",
        {(): figures.feeds_in_error},
    )
    yield from _family(
        "digest_subscribers",
        "Subscribers by status.",
        {(("status", s),): n for s, n in figures.subscribers.items()},
    )
    yield from _family(
        "digest_suppressions",
        "Suppressed addresses by reason.",
        {(("reason", r),): n for r, n in figures.suppressions.items()},
    )


Labels = tuple[tuple[str, str], ...]


def _family(name: str, help_text: str, samples: Mapping[Labels, float]) -> Iterator[str]:
    yield f"# HELP {name} {help_text}\n"
    yield f"# TYPE {name} gauge\n"
    for labels, value in samples.items():
        shown = ",".join(f'{key}="{_escaped(str(v))}"' for key, v in labels)
        yield f"{name}{{{shown}}} {value}\n" if shown else f"{name} {value}\n"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
