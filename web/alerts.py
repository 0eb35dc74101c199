"""The alert queue, and the decisions taken on an alert."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from monitor.db.models import LABELS, AlertStatus, Role, User
from monitor.ingest.sources import list_sources
from monitor.review.decisions import assign, decide
from monitor.review.queries import list_alerts
from web.access import requires
from web.database import commit, get_session
from web.forms import ButtonForm, DecisionForm, submitted
from web.redirects import back
from web.schemas import AlertQuery, parse_query

bp = Blueprint("alerts", __name__)


@bp.get("/")
def index():
    query = parse_query(AlertQuery, request.args.to_dict())
    session = get_session()
    result = list_alerts(session, query.filters(), query.page)
    return render_template(
        "alerts.html", result=result, query=query, statuses=["all", *AlertStatus.__members__],
        page_args=query.model_dump(mode="json", exclude_none=True, exclude={"page"}),
        labels=LABELS, sources=list_sources(session, "title"),
        button=ButtonForm())


@bp.post("/alerts/<int:alert_id>/assign")
@requires(Role.moderator)
def assign_to_me(alert_id: int):
    if ButtonForm().validate_on_submit():
        take = request.form.get("take", "me") == "me"
        user = get_session().get(User, current_user.id) if take else None
        assign(get_session(), alert_id, user, current_user.name)
        commit()
        flash(f"alert {alert_id} " + (f"assigned to {user.name}" if take else "unassigned"), "ok")
    return back(url_for("alerts.index"))


@bp.post("/alerts/<int:alert_id>/decision")
@requires(Role.moderator)
def decision(alert_id: int):
    form = DecisionForm()
    if not submitted(form):
        return back(url_for("alerts.index"))
    event = decide(get_session(), alert_id, form.decision.data, current_user.name,
                   label=form.label.data or None, note=form.note.data)
    cluster_id = event.payload["cluster_id"]
    commit([event.id])
    flash(f"alert {alert_id}: {form.decision.data} recorded", "ok")
    return redirect(url_for("clusters.show", cluster_id=cluster_id))
