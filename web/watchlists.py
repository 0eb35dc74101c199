"""Watchlists of people and topics; admins edit them."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from monitor.alerts.watchlists import add_entry, list_entries, set_active
from monitor.db.models import Role
from web.access import requires
from web.database import commit, get_session
from web.forms import ButtonForm, WatchlistForm, submitted

bp = Blueprint("watchlists", __name__)


@bp.get("/watchlists")
def index():
    return render_template("watchlists.html", entries=list_entries(get_session()), form=WatchlistForm(),
                           button=ButtonForm())


@bp.post("/watchlists")
@requires(Role.admin)
def add():
    form = WatchlistForm()
    if submitted(form):
        entry = add_entry(get_session(), form.kind.data, form.name.data,
                          (form.variants.data or "").splitlines(), current_user.name, form.note.data or "")
        commit()
        flash(f"{entry.kind} {entry.name!r} added to the watchlist", "ok")
    return redirect(url_for("watchlists.index"))


@bp.post("/watchlists/<int:entry_id>/<any(enable, disable):change>")
@requires(Role.admin)
def toggle(entry_id: int, change: str):
    if submitted(ButtonForm()):
        set_active(get_session(), entry_id, change == "enable", current_user.name)
        commit()
    return redirect(url_for("watchlists.index"))
