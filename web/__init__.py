"""The moderators' web UI (Flask): an application factory and one blueprint per area."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

from config import Settings, load_settings
from web import alerts, clusters, database, health


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MONITOR_SETTINGS=settings,
    )
    database.init_app(app, settings)
    app.register_blueprint(health.bp)
    app.register_blueprint(alerts.bp)
    app.register_blueprint(clusters.bp)
    app.add_template_filter(safe_href)
    return app


def safe_href(url: str | None) -> str | None:
    """Only http(s) links leave the page: a post's URL is attacker-controlled (javascript:...)."""
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return url
    return None
