"""Trace ids and metrics of web requests, and the /metrics endpoint for Prometheus."""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Flask, Response, abort, g, request

from config.queues import QUEUES
from monitor import metrics
from monitor.logs import current_trace_id, new_trace_id
from web.database import current_settings

bp = Blueprint("observability", __name__)


@bp.get("/metrics")
def exposition():
    """Prometheus text format, only for `Authorization: Bearer <METRICS_TOKEN>`: queue depths
    and request counts tell an outsider what the service is busy with."""
    settings = current_settings()
    if not settings.metrics_token:
        abort(401, "metrics are not served until METRICS_TOKEN is set (see docs/deployment.md)")
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(offered.encode(), settings.metrics_token.encode()):
        abort(401, "a valid metrics token is needed")
    broker = None if settings.celery_always_eager else settings.celery_broker_url
    return Response(metrics.exposition(broker, QUEUES), mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start():
        g.started = time.perf_counter()
        current_trace_id.set(new_trace_id(request.headers.get("X-Request-ID")))

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = current_trace_id.get() or "-"
        if "started" in g:
            metrics.HTTP_REQUESTS.labels(request.endpoint or "unknown", request.method,
                                         str(response.status_code)).observe(time.perf_counter() - g.started)
        return response
