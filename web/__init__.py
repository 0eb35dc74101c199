"""The moderators' web UI and JSON API (Flask): an application factory and one blueprint per area."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, abort, flash, render_template, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from config import Settings, load_settings
from config.secret_key import check_secret_key
from monitor.db.models import LABELS, Role
from monitor.messages import Conflict, NotFound, UserError
from monitor.review.decisions import describe
from monitor.review.identity import identify
from monitor.urls import split_url
from monitor.wording import plural
from web import (
    access,
    alerts,
    api,
    audit,
    auth,
    clusters,
    database,
    health,
    known_claims,
    media,
    observability,
    search,
    sources,
    users,
    watchlists,
    webhooks,
)
from web.markdown import render_markdown
from web.redirects import back, wants_json

log = logging.getLogger(__name__)
MAX_ID = 2**31 - 1
# Characters of a post shown before the rest is folded away: a hostile 200,000-character
# post would otherwise take the browser minutes to lay out.
LONG_POST = 2000
# Post text is hostile: no inline script ever runs, only the app's own files (the queue's
# keyboard triage, static/triage.js); nothing loads from elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
                           "img-src 'self'; "
                           "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(settings: Settings | None = None) -> Flask:
    """The app; InsecureSecretKey when SECRET_KEY could let anyone forge a session."""
    settings = settings or load_settings()
    secret_key = check_secret_key(settings.secret_key)
    app = Flask(__name__)
    # Ids are 32-bit in the database: a larger one names nothing (404), it is not an error.
    app.url_map.converters["int"] = DatabaseId
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        # A form stays valid while its session does: moderators leave pages open for hours.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        MONITOR_SETTINGS=settings,
    )
    if settings.web_proxy_hops:
        hops = settings.web_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    database.init_app(app, settings)
    observability.init_app(app)
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)  # bearer tokens, never cookies: nothing for another site to ride on
    access.init_app(app)
    for module in (health, auth, alerts, clusters, search, sources, watchlists, known_claims, users,
                   webhooks, audit, media, api):
        app.register_blueprint(module.bp)
    app.add_template_filter(safe_href)
    app.add_template_filter(render_markdown, "markdown")
    app.context_processor(lambda: {"role": access.current_role(), "Role": Role, "LABELS": LABELS,
                                   "LONG_POST": LONG_POST, "plural": plural, "describe_decision": describe})
    # A global, not a context variable: the macros of _macros.html are imported without context.
    app.jinja_env.globals["source_identity"] = lambda source: identify(source.title, source.key)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)
    app.register_error_handler(UserError, _user_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


class DatabaseId(IntegerConverter):
    def __init__(self, url_map, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, **kwargs)


def safe_href(url: str | None) -> str | None:
    """Only http(s) links leave the page: a post's URL is attacker-controlled (javascript:...)."""
    parts = split_url(url) if url else None
    return url if parts and parts.scheme.lower() in ("http", "https") else None


def _refuse_nul():
    """No database stores a NUL character in text: refuse it at the door, saying so.
    (Form fields are read first: reading them consumes a form body, not a JSON one.)"""
    values = [*request.args.values(), *request.form.values()]
    if any("\x00" in value for value in values) or b"\\u0000" in request.get_data(cache=True):
        abort(400, "NUL characters (\\u0000) are not accepted in text")


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "static":  # pages and API answers hold what only their reader may see
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _user_error(error: UserError):
    """A request the domain refused: nothing of it is kept, and the user is told why."""
    database.get_session().rollback()
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 400
    if _wants_json():
        return {"error": str(error)}, status
    if request.method == "POST":
        flash(str(error), "error")
        return back("/")
    return render_template("error.html", status=status, message=str(error)), status


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    if _wants_json():
        return {"error": error.description}, error.code
    return render_template("error.html", status=error.code, message=error.description), error.code


def _wants_json() -> bool:
    # Also for /api/ paths that matched no route: API clients get JSON, never a page; and so
    # do the queue's keyboard actions, which ask for it.
    return request.blueprint == "api" or request.path.startswith("/api/") or wants_json()
