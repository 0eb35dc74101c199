"""Signing in and out."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from monitor.accounts.users import SignInLimits, SignInThrottled, authenticate, sign_out
from web.access import Account
from web.database import get_session
from web.forms import ButtonForm, SignInForm
from web.redirects import local_path

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = SignInForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        session = get_session()
        settings = current_app.config["MONITOR_SETTINGS"]
        try:
            user = authenticate(session, form.name.data, form.password.data,
                                request.remote_addr or "unknown", SignInLimits.from_settings(settings))
        except SignInThrottled as error:
            log.warning("sign-in of %r from %s throttled", form.name.data, request.remote_addr)
            flash(str(error), "error")
            return render_template("login.html", form=form), 429
        session.commit()
        log.info("sign-in of %r from %s %s", form.name.data, request.remote_addr,
                 "succeeded" if user is not None else "failed")
        if user is not None:
            login_user(Account(user))
            return redirect(local_path(form.next.data) or url_for("alerts.index"))
        flash("wrong name or password", "error")
        status = 401
    return render_template("login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    if ButtonForm().validate_on_submit():
        session = get_session()
        sign_out(session, current_user.id)
        session.commit()
        logout_user()
    return redirect(url_for("auth.login"))
