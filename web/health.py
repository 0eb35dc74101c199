"""Probes for the orchestrator: /healthz (the process answers) and /readyz (it can work)."""

from flask import Blueprint

from monitor.health import readiness
from web.database import current_settings, get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """The database answers at the newest schema, and the broker answers (unless eager)."""
    settings = current_settings()
    state = readiness(get_session().get_bind(), settings.celery_broker_url, settings.celery_always_eager)
    return state, 200 if state["status"] == "ok" else 503
