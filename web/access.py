"""Who is asking and what they may do.

The UI signs people in with Flask-Login sessions; the JSON API takes bearer tokens
only (never the session cookie, so a page on another site cannot make a signed-in
moderator's browser call it). Every view needs a signed-in account unless it is
listed in PUBLIC_ENDPOINTS; views that change things also name the role they need.
"""

from __future__ import annotations

import hashlib
from functools import wraps

from flask import Flask, abort, g, request
from flask_login import LoginManager, UserMixin, current_user

from monitor.accounts.tokens import TokenHolder
from monitor.db.models import Role, User
from web.database import get_session

# The OpenAPI document is public: it says what exists, not what is in it.
# /metrics has its own token (METRICS_TOKEN), for Prometheus rather than people.
PUBLIC_ENDPOINTS = {"static", "health.healthz", "health.readyz", "auth.login", "api.openapi",
                    "observability.exposition"}


class Account(UserMixin):
    """The signed-in person, copied out of the request's database session.

    The session cookie names the user's session version as well as the user: signing out,
    a new password or role, or disabling the account moves the version on, and every cookie
    signed before then stops working at its next request.
    """

    def __init__(self, user: User):
        self.id, self.name, self.role = user.id, user.name, user.role
        self.session_version = user.session_version

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


def _load_account(session_id: str) -> Account | None:
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdecimal() and version.isdecimal()):
        return None
    user = get_session().get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return Account(user)


def _client_identifier() -> str:
    """What "strong" session protection ties a session to: the client's address as the app
    sees it (behind WEB_PROXY_HOPS proxies, as ProxyFix read it), never a header the client
    chose, and its browser."""
    client = f"{request.remote_addr}|{request.headers.get('User-Agent', '')}"
    return hashlib.sha512(client.encode("utf-8", "surrogateescape")).hexdigest()


def init_app(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "Sign in to see this page."
    manager.session_protection = "strong"
    # Flask-Login's own identifier reads X-Forwarded-For, which any client can set.
    manager._session_identifier_generator = _client_identifier
    manager.user_loader(_load_account)

    @app.before_request
    def require_sign_in():
        if request.endpoint in PUBLIC_ENDPOINTS or request.blueprint == "api" or request.endpoint is None:
            return None
        if not current_user.is_authenticated:
            return manager.unauthorized()
        return None


def current_role() -> Role | None:
    holder: TokenHolder | None = g.get("api_holder")
    if holder is not None:
        return holder.role
    return current_user.role if current_user.is_authenticated else None


def actor_name() -> str:
    holder: TokenHolder | None = g.get("api_holder")
    return holder.user.name if holder is not None else current_user.name


def requires(role: Role):
    """The view needs at least ROLE (403 otherwise)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            have = current_role()
            if have is None or not have.allows(role):
                abort(403, f"this needs the {role.value} role")
            return view(*args, **kwargs)

        return guarded

    return decorate
