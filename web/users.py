"""Accounts: admins create users and set roles; everyone manages their own API tokens."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from monitor.accounts.tokens import issue_token, revoke_token, tokens_of
from monitor.accounts.users import create_user, parse_role, set_active, set_role
from monitor.db.models import ApiToken, Role, User
from monitor.review.queries import list_users
from web.access import requires
from web.database import commit, get_session
from web.forms import ButtonForm, RoleForm, TokenForm, UserForm, submitted

bp = Blueprint("users", __name__)


@bp.get("/users")
@requires(Role.admin)
def index():
    return render_template("users.html", users=list_users(get_session()), form=UserForm(),
                           role_form=RoleForm(), button=ButtonForm())


@bp.post("/users")
@requires(Role.admin)
def add():
    form = UserForm()
    if submitted(form):
        user = create_user(get_session(), form.name.data, form.password.data, parse_role(form.role.data),
                           current_user.name)
        commit()
        flash(f"user {user.name} created as {user.role.value}", "ok")
    return redirect(url_for("users.index"))


@bp.post("/users/<int:user_id>/role")
@requires(Role.admin)
def change_role(user_id: int):
    form = RoleForm()
    if submitted(form):
        set_role(get_session(), user_id, parse_role(form.role.data), current_user.name)
        commit()
    return redirect(url_for("users.index"))


@bp.post("/users/<int:user_id>/<any(enable, disable):change>")
@requires(Role.admin)
def toggle(user_id: int, change: str):
    if user_id == current_user.id:
        abort(400, "you cannot disable your own account")
    if submitted(ButtonForm()):
        set_active(get_session(), user_id, change == "enable", current_user.name)
        commit()
    return redirect(url_for("users.index"))


@bp.get("/tokens")
def tokens():
    return render_template("tokens.html", tokens=_own_tokens(), form=TokenForm(current_user.role),
                           button=ButtonForm(), issued=None)


@bp.post("/tokens")
def issue():
    form = TokenForm(current_user.role)
    if not submitted(form):
        return redirect(url_for("users.tokens"))
    session = get_session()
    issued = issue_token(session, session.get(User, current_user.id), form.name.data,
                         parse_role(form.scope.data), current_user.name)
    commit()
    # Shown in this response only: a flash message would put it in the (signed, not encrypted) cookie.
    return render_template("tokens.html", tokens=_own_tokens(), form=TokenForm(current_user.role),
                           button=ButtonForm(), issued=issued), 201


@bp.post("/tokens/<int:token_id>/revoke")
def revoke(token_id: int):
    token = get_session().get(ApiToken, token_id)
    if token is None or (token.user_id != current_user.id and not current_user.role.allows(Role.admin)):
        abort(404, f"no API token {token_id} of yours")
    if submitted(ButtonForm()):
        revoke_token(get_session(), token_id, current_user.name)
        commit()
        flash(f"token {token.prefix}… revoked", "ok")
    return redirect(url_for("users.tokens"))


def _own_tokens() -> list[ApiToken]:
    return tokens_of(get_session(), current_user.id)
