from flask import Blueprint, abort, render_template, request

from monitor.db.models import AlertStatus
from monitor.review.queries import list_alerts
from web.database import get_session

bp = Blueprint("alerts", __name__)


@bp.get("/")
def index():
    status_name = request.args.get("status", "open")
    if status_name == "all":
        status = None
    elif status_name in AlertStatus.__members__:
        status = AlertStatus[status_name]
    else:
        abort(400, f"unknown status {status_name!r}: use all, "
                   + ", ".join(AlertStatus.__members__))
    page = request.args.get("page", 1, type=int)
    result = list_alerts(get_session(), status, page)
    return render_template("alerts.html", result=result, status=status_name,
                           statuses=["all", *AlertStatus.__members__])
