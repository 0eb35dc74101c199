"""Known claims (already fact-checked); moderators add them."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from monitor.alerts.known_claims import add_known_claim, list_known_claims
from monitor.db.models import Role
from web.access import requires
from web.database import commit, get_session
from web.forms import KnownClaimForm, submitted

bp = Blueprint("known_claims", __name__)


@bp.get("/known-claims")
def index():
    return render_template("known_claims.html", claims=list_known_claims(get_session()),
                           form=KnownClaimForm())


@bp.post("/known-claims")
@requires(Role.moderator)
def add():
    form = KnownClaimForm()
    if submitted(form):
        claim = add_known_claim(get_session(), form.text.data or "", form.label.data, current_user.name,
                                url=form.url.data or None)
        commit()
        flash(f"known claim {claim.id} added", "ok")
    return redirect(url_for("known_claims.index"))
