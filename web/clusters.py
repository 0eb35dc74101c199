"""The cluster page, and the moderators' actions on a cluster."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from monitor.alerts.known_claims import ClaimMatching
from monitor.alerts.rules import AlertPolicy
from monitor.db.models import Role
from monitor.review.clusters import add_note, merge_clusters, promote_to_known_claim, split_post
from monitor.review.queries import get_cluster
from web.access import requires
from web.charts import timeline_chart
from web.database import commit, current_settings, get_session
from web.forms import (
    ButtonForm,
    DecisionForm,
    KnownClaimForm,
    MergeForm,
    NoteForm,
    SplitForm,
    submitted,
)

bp = Blueprint("clusters", __name__)


@bp.get("/clusters/<int:cluster_id>")
def show(cluster_id: int):
    view = get_cluster(get_session(), cluster_id, ClaimMatching.from_settings(current_settings()))
    if view is None:
        abort(404, f"no cluster {cluster_id}")
    return render_template("cluster.html", view=view, chart=timeline_chart(view.timeline),
                           button=ButtonForm(), decision=DecisionForm(queue=request.args.get("queue", "")),
                           note=NoteForm(), merge=MergeForm(), split=SplitForm(),
                           promote=KnownClaimForm(prefix="promote"))


@bp.post("/clusters/<int:cluster_id>/notes")
@requires(Role.moderator)
def note(cluster_id: int):
    form = NoteForm()
    if submitted(form):
        add_note(get_session(), cluster_id, form.text.data, current_user.name)
        commit()
        flash("note added", "ok")
    return _to(cluster_id)


@bp.post("/clusters/<int:cluster_id>/merge")
@requires(Role.moderator)
def merge(cluster_id: int):
    form = MergeForm()
    if submitted(form):
        outcome = merge_clusters(get_session(), cluster_id, form.other_cluster_id.data, current_user.name,
                                 form.reason.data, AlertPolicy.from_settings(current_settings()))
        commit(outcome.event_ids)
        flash(f"cluster {form.other_cluster_id.data} merged into this one", "ok")
    return _to(cluster_id)


@bp.post("/clusters/<int:cluster_id>/split")
@requires(Role.moderator)
def split(cluster_id: int):
    form = SplitForm()
    if submitted(form):
        if not form.post_id.data.isdecimal():
            abort(400, "post_id must be a number")
        outcome = split_post(get_session(), int(form.post_id.data), current_user.name, form.reason.data,
                             AlertPolicy.from_settings(current_settings()))
        commit(outcome.event_ids)
        flash(f"post {form.post_id.data} split out into cluster {outcome.cluster_id}", "ok")
    return _to(cluster_id)


@bp.post("/clusters/<int:cluster_id>/known-claim")
@requires(Role.moderator)
def promote(cluster_id: int):
    form = KnownClaimForm(prefix="promote")
    if submitted(form):
        claim = promote_to_known_claim(get_session(), cluster_id, form.label.data, current_user.name,
                                       text=form.text.data or "", url=form.url.data or None)
        commit()
        flash(f"known claim {claim.id} recorded", "ok")
    return _to(cluster_id)


def _to(cluster_id: int):
    return redirect(url_for("clusters.show", cluster_id=cluster_id))
