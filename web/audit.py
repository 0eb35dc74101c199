"""The audit trail: every state-changing action, newest first."""

from flask import Blueprint, render_template, request

from monitor.db.models import Role
from monitor.review.queries import audit_page
from web.access import requires
from web.database import get_session

bp = Blueprint("audit", __name__)
PER_PAGE = 100


@bp.get("/audit")
@requires(Role.admin)
def index():
    entries, page, pages = audit_page(get_session(), request.args.get("page", 1, type=int), PER_PAGE)
    return render_template("audit.html", entries=entries, page=page, pages=pages)
