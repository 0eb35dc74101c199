"""The audit trail: every state-changing action, newest first."""

from flask import Blueprint, render_template, request
from sqlalchemy import func, select

from monitor.db.models import AuditEntry, Role
from web.access import requires
from web.database import get_session

bp = Blueprint("audit", __name__)
PER_PAGE = 100


@bp.get("/audit")
@requires(Role.admin)
def index():
    session = get_session()
    total = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, request.args.get("page", 1, type=int)), pages)
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                              .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template("audit.html", entries=entries, page=page, pages=pages)
