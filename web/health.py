from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up; /readyz (database, broker, migrations) comes with the topology work."""
    return {"status": "ok"}
