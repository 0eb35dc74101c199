"""The alert queue, and the decisions taken on an alert: one at a time (from the queue with
the keyboard, or from the cluster page), or several ticked in the queue at once."""

from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from monitor.db.models import LABELS, Alert, AlertStatus, Role, User
from monitor.ingest.sources import list_sources
from monitor.messages import NotFound
from monitor.review.decisions import (
    DISMISS_REASONS,
    assign,
    decide,
    describe,
    latest_decision,
    moderator,
)
from monitor.review.queries import list_alerts, list_moderators, next_alert
from web.access import requires
from web.database import commit, get_session
from web.forms import AssignForm, BulkForm, ButtonForm, DecisionForm, form_errors, submitted
from web.redirects import back, wants_json
from web.schemas import AlertQuery, parse_query

bp = Blueprint("alerts", __name__)


@bp.get("/")
def index():
    query = parse_query(AlertQuery, request.args.to_dict())
    session = get_session()
    result = list_alerts(session, query.filters(), query.page)
    page_args = query.model_dump(mode="json", exclude_none=True, exclude={"page"})
    return render_template(
        "alerts.html", result=result, query=query, statuses=["all", *AlertStatus.__members__],
        page_args=page_args, queue=urlencode(page_args),
        labels=LABELS, reasons=DISMISS_REASONS, sources=list_sources(session, "title"),
        moderators=list_moderators(session), button=ButtonForm(), bulk=BulkForm())


@bp.post("/alerts/<int:alert_id>/assign")
@requires(Role.moderator)
def assign_to(alert_id: int):
    form = AssignForm()
    if not submitted(form):
        return back(url_for("alerts.index"))
    alert = assign(get_session(), alert_id, _assignee(form.assignee.data), current_user.name)
    commit()
    done = f"alert {alert_id} " + (f"assigned to {alert.assignee.name}" if alert.assignee else "unassigned")
    if wants_json():
        return {"alert_id": alert_id, "assignee": alert.assignee.name if alert.assignee else None,
                "message": done}
    flash(done, "ok")
    return back(url_for("alerts.index"))


@bp.post("/alerts/<int:alert_id>/decision")
@requires(Role.moderator)
def decision(alert_id: int):
    form = DecisionForm()
    if not form.validate_on_submit():
        return _refused(form, url_for("alerts.index"))
    # The queue's filters are read before anything is decided: bad ones change nothing.
    queue = parse_query(AlertQuery, dict(parse_qsl(form.queue.data))) if form.queue.data else None
    session = get_session()
    event = decide(session, alert_id, form.decision.data, current_user.name, label=form.label.data or None,
                   note=form.why(), allow_change=form.change.data)
    alert = session.get(Alert, alert_id)
    decided = describe(alert.status, latest_decision(session, alert_id))
    cluster_id = event.payload["cluster_id"]
    commit([event.id])
    if wants_json():
        return {"alert_id": alert_id, "status": alert.status.value, "label": form.label.data or None,
                "decided": decided}
    flash(f"alert {alert_id}: {decided}", "ok")
    if queue is not None:
        return _on_to_next(alert_id, queue, form.queue.data)
    return redirect(url_for("clusters.show", cluster_id=cluster_id))


@bp.post("/alerts/bulk")
@requires(Role.moderator)
def bulk():
    form = BulkForm()
    alert_ids = [int(value) for value in request.form.getlist("alert_id") if value.isdigit()]
    if not alert_ids:
        flash("tick the alerts to act on first", "error")
    elif submitted(form):
        session = get_session()
        if form.action.data == "dismiss":
            events = [decide(session, alert_id, "dismiss", current_user.name, note=form.why()).id
                      for alert_id in alert_ids]
            commit(events)
            flash(f"{len(alert_ids)} alerts dismissed", "ok")
        else:
            assignee = _assignee(form.assignee.data or "me")
            for alert_id in alert_ids:
                assign(session, alert_id, assignee, current_user.name)
            commit()
            flash(f"{len(alert_ids)} alerts assigned to {assignee.name if assignee else 'nobody'}", "ok")
    return back(url_for("alerts.index"))


def _assignee(asked: str) -> User | None:
    """'me', 'nobody' or a moderator's account id."""
    if asked == "nobody":
        return None
    if asked == "me":
        return get_session().get(User, current_user.id)
    if not asked.isdigit():
        raise NotFound(f"no active moderator {asked!r}")
    return moderator(get_session().get(User, int(asked)), f"with id {asked}")


def _on_to_next(alert_id: int, query: AlertQuery, queue: str):
    """To the next alert of the queue the moderator came from (QUERY, from its query string
    QUEUE), with its filters; to the queue itself when none is left."""
    following = next_alert(get_session(), query.filters(), alert_id)
    if following is None:
        flash("no more alerts in this queue", "ok")
        return redirect(url_for("alerts.index", **dict(parse_qsl(queue))))
    return redirect(url_for("clusters.show", cluster_id=following.cluster_id, queue=queue))


def _refused(form, default: str):
    if wants_json():
        return {"error": form_errors(form)}, 400
    flash(form_errors(form), "error")
    return back(default)
